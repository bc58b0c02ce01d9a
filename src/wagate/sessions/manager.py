"""The sessions of this process: create, start, stop, log out, delete, restore on boot.

The database holds each session's desired state; this manager converges the
sessions of this process onto it and keeps a :class:`SessionRuntime` for each
one that runs here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from wagate.domain import (
    Clock,
    DesiredState,
    MessageStatus,
    ReceiptReceived,
    SessionStatus,
    TransportEvent,
    new_id,
)
from wagate.observability import Metrics
from wagate.sessions.fleet import FleetPlan
from wagate.sessions.gate import SessionGate
from wagate.sessions.hooks import SessionHooks
from wagate.sessions.lease import Lease
from wagate.sessions.recorder import EventRecorder, SessionRef
from wagate.sessions.runtime import RuntimeSettings, SessionRuntime
from wagate.sessions.secrets import ConfigSecrets
from wagate.sessions.status import SessionWrites
from wagate.sessions.worker import WorkerIdentity
from wagate.store import AsyncSession, Database
from wagate.store.media import MediaStore
from wagate.store.models import Session
from wagate.store.repositories import events, messages, receipts, sessions, tenants, workers
from wagate.transports.registry import TransportRegistry

log = structlog.get_logger("wagate.sessions")


class Unchanged:
    """The marker for "leave this field as it is" where None means "clear it"."""


UNCHANGED = Unchanged()


@dataclass(frozen=True, slots=True)
class Balance:
    """How the fleet moves sessions between workers without thrashing."""

    cooldown_s: float = 60.0  # a session ranked out keeps running this long first
    moves_per_minute: int = 10  # sessions one worker gives up in any minute, at most


class SessionManager:
    def __init__(
        self,
        *,
        db: Database,
        registry: TransportRegistry,
        clock: Clock,
        media: MediaStore,
        settings: RuntimeSettings,
        hooks: SessionHooks,
        metrics: Metrics,
        capacity: int = 500,
        restore_concurrency: int = 8,
        worker_id: str = "worker",
        lease_ttl_s: float = 30.0,
        secrets: ConfigSecrets | None = None,
        identity: WorkerIdentity | None = None,
        balance: Balance | None = None,
        gate: SessionGate | None = None,
    ) -> None:
        self.db = db
        self.gate = gate  # a control plane's instance locks, when one decides too
        self.identity = identity
        self.balance = balance or Balance()
        self._out_of_target: dict[str, datetime] = {}  # running here, ranked out: since when
        self._moves: deque[datetime] = deque()  # when this worker gave up sessions, last minute
        self._pass_turn = asyncio.Lock()  # lease passes of this worker, one at a time
        self._renewal: asyncio.Task[None] | None = None  # a pass asked for by a runtime
        self.secrets = secrets
        self.registry = registry
        self.clock = clock
        self.media = media
        self.settings = settings
        self.hooks = hooks
        self.metrics = metrics
        self.capacity = capacity
        self.restore_concurrency = restore_concurrency
        self.worker_id = worker_id
        self.lease_ttl_s = lease_ttl_s
        self._runtimes: dict[str, SessionRuntime] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._writes = SessionWrites.build(clock, hooks, db.session_rows)  # shared by all sessions

    @contextlib.asynccontextmanager
    async def _lease_transaction(self) -> AsyncIterator[AsyncSession]:
        """A write of the lease machinery (claims, renewals, heartbeats, releases, waiting
        reports), counted in ``wagate_lease_commits_total``: the fleet's overhead."""
        async with self.db.transaction() as tx:
            yield tx
        self.metrics.lease_commits.inc()

    def runtime(self, session_id: str) -> SessionRuntime | None:
        return self._runtimes.get(session_id)

    def running(self) -> list[SessionRuntime]:
        return list(self._runtimes.values())

    def _lock(self, session_id: str) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

    def _recorder(self, session_id: str, tenant_id: str) -> EventRecorder:
        """The recorder of a session: for its runtime, or for events that reach a worker
        that does not run it (ingest webhooks, waiting receipts)."""
        return EventRecorder(
            SessionRef(session_id, tenant_id),
            db=self.db,
            clock=self.clock,
            media=self.media,
            hooks=self.hooks,
            metrics=self.metrics,
            policy_defaults=self.settings.policy_defaults,
            writes=self._writes,
        )

    def session_proxy(self, row: Session) -> str | None:
        """A session's own proxy URL with its credentials opened (None when it has none)."""
        if row.proxy_url is None or self.secrets is None:
            return row.proxy_url
        return self.secrets.open_proxy(row.id, row.proxy_url)

    def session_config(self, row: Session) -> dict[str, Any]:
        """A session's transport config with its secrets opened."""
        if self.secrets is None:
            return dict(row.config)
        return self.secrets.open(row.transport, row.id, row.config)

    async def ingest(self, session_id: str, tenant_id: str, event: TransportEvent) -> None:
        """Take an event that an engine delivered by webhook (Cloud API, Evolution).

        Ingest webhooks reach whichever worker the load balancer picks. When this
        worker runs the session the event goes through its runtime, in order with
        the transport's own events; otherwise messages, receipts and the like are
        recorded directly and connection changes are left to the owner, whose
        transport watches its own connection.
        """
        runtime = self._runtimes.get(session_id)
        if runtime is not None:
            await runtime.ingest(event)
            return
        recorder = self._recorder(session_id, tenant_id)
        if not await recorder.record(event):
            log.debug(
                "ingested connection event left to the owner",
                session_id=session_id,
                kind=type(event).__name__,
            )

    # ------------------------------------------------------------------ operator actions

    async def create(
        self,
        *,
        tenant_id: str,
        name: str,
        transport: str,
        config: dict[str, Any],
        proxy_url: str | None,
        priority: int,
        start: bool,
        settings: dict[str, Any] | None = None,
        default_quota: int | None = None,
    ) -> Session:
        """Create (and unless ``start`` is false, start) a session; refused with
        ``session_quota_exceeded`` when the tenant is at its quota (its own, or
        ``default_quota``)."""
        self.registry.ensure_available(transport)
        desired = DesiredState.RUNNING if start else DesiredState.STOPPED
        session_id = new_id("ses")
        if self.secrets is not None:
            config = self.secrets.seal(transport, session_id, config)
            if proxy_url is not None:
                proxy_url = self.secrets.seal_proxy(session_id, proxy_url)
        async with self.db.transaction() as tx:
            await tenants.check_session_quota(tx, tenant_id, default_quota)
            row = await sessions.create_session(
                tx,
                session_id=session_id,
                tenant_id=tenant_id,
                name=name,
                transport=transport,
                config=config,
                proxy_url=proxy_url,
                priority=priority,
                desired=desired,
                now=self.clock.now(),
                settings=settings,
            )
            await events.append_event(
                tx,
                tenant_id=tenant_id,
                session_id=row.id,
                type="session.created",
                data={"name": name, "transport": transport},
                now=self.clock.now(),
            )
        self.hooks.events_committed()
        if start:
            await self.start(row.id)
        return row

    async def start(self, session_id: str) -> None:
        """Ask for the session to run; run it here if no other live worker holds it."""
        async with self.db.transaction() as tx:
            row = await sessions.get_session(tx, session_id, None)
            row.desired_state = DesiredState.RUNNING.value
            row.updated_at = self.clock.now()
        await self._run_here(session_id)

    async def _run_here(self, session_id: str) -> bool:
        """Claim the session's lease and start its runtime; False if another worker has it."""
        async with self._lock(session_id):
            existing = self._runtimes.get(session_id)
            if existing is not None and not existing.closed:
                return True
            if len(self.running()) >= self.capacity:
                return False
            began = self.clock.now()
            async with self._lease_transaction() as tx:
                claimed = await sessions.claim_leases(
                    tx, [session_id], self.worker_id, began, self.lease_ttl_s
                )
            if session_id not in claimed:
                return False
            return await self._start_claimed(session_id, claimed[session_id], began)

    async def _start_claimed(
        self, session_id: str, claimed: sessions.Claimed, began: datetime
    ) -> bool:
        """Start the runtime of a session whose lease this worker just claimed (the
        session's lock held); on failure, or when the gate says no, the lease is released
        again (False)."""
        if self.gate is not None and not await self.gate.admit(session_id):
            await self._release(session_id)
            return False
        runtime = SessionRuntime(
            SessionRef(session_id, claimed.tenant_id),
            db=self.db,
            registry=self.registry,
            clock=self.clock,
            recorder=self._recorder(session_id, claimed.tenant_id),
            settings=self.settings,
            hooks=self.hooks,
            metrics=self.metrics,
            open_config=self.session_config,
            open_proxy=self.session_proxy,
            writes=self._writes,
            lease=Lease.claimed(claimed.token, began, self.lease_ttl_s, self.renew_soon),
        )
        self._runtimes[session_id] = runtime
        try:
            await runtime.start()
        except Exception:
            self._runtimes.pop(session_id, None)
            await self._release(session_id)
            raise
        return True

    async def _release(self, session_id: str) -> None:
        """Let the session's lease go (and the gate's lock, when there is a gate)."""
        async with self._lease_transaction() as tx:
            await sessions.release_lease(tx, session_id, self.worker_id)
        if self.gate is not None:
            await self.gate.release(session_id)

    async def update(
        self,
        session_id: str,
        *,
        config: dict[str, Any] | None = None,
        proxy_url: str | Unchanged | None = UNCHANGED,
        priority: int | None = None,
    ) -> bool:
        """Change a session's config (already validated), proxy or priority.

        A new config or proxy takes effect when the session next connects: at
        once when it runs on this worker (it reconnects now, keeping its login),
        else at its next reconnect on the worker that runs it. Returns whether it
        was reconnected here.
        """
        async with self._lock(session_id):
            async with self.db.transaction() as tx:
                row = await sessions.get_session(tx, session_id, None, for_update=True)
                if config is not None:
                    row.config = (
                        self.secrets.seal(row.transport, row.id, config)
                        if self.secrets is not None
                        else config
                    )
                if not isinstance(proxy_url, Unchanged):
                    row.proxy_url = (
                        self.secrets.seal_proxy(row.id, proxy_url)
                        if self.secrets is not None and proxy_url is not None
                        else proxy_url
                    )
                if priority is not None:
                    row.priority = priority
                row.updated_at = self.clock.now()
                await events.append_event(
                    tx,
                    tenant_id=row.tenant_id,
                    session_id=row.id,
                    type="session.updated",
                    data={
                        "config_changed": config is not None,
                        "proxy_changed": not isinstance(proxy_url, Unchanged),
                        "priority": row.priority,
                    },
                    now=self.clock.now(),
                )
            self.hooks.events_committed()
            runtime = self._runtimes.get(session_id)
            reconnect = (
                runtime is not None
                and not runtime.closed
                and (config is not None or not isinstance(proxy_url, Unchanged))
            )
            if reconnect:
                assert runtime is not None
                self._runtimes.pop(session_id, None)
                await runtime.close(SessionStatus.STOPPED, "config_changed")
        if reconnect:
            await self._run_here(session_id)
        return reconnect

    async def stop(self, session_id: str) -> None:
        async with self._lock(session_id):
            await self._set_desired(session_id, DesiredState.STOPPED)
            runtime = self._runtimes.pop(session_id, None)
            if runtime is not None:
                await runtime.close(SessionStatus.STOPPED, "stopped_by_request")
                await self._release(session_id)
            else:
                await self._record_offline_status(
                    session_id, SessionStatus.STOPPED, "stopped_by_request"
                )

    async def logout(self, session_id: str) -> None:
        async with self._lock(session_id):
            await self._set_desired(session_id, DesiredState.STOPPED)
            runtime = self._runtimes.pop(session_id, None)
            if runtime is not None:
                await runtime.logout()
                await self._release(session_id)
            else:
                await self._record_offline_status(
                    session_id, SessionStatus.LOGGED_OUT, "logout", credentials=None
                )

    async def delete(self, session_id: str) -> None:
        await self.logout(session_id)
        async with self.db.transaction() as tx:
            row = await sessions.get_session(tx, session_id, None)
            await events.append_event(
                tx,
                tenant_id=row.tenant_id,
                session_id=row.id,
                type="session.deleted",
                data={"name": row.name},
                now=self.clock.now(),
            )
            await sessions.delete_session(tx, row)
        await self.media.delete_session(session_id)
        self._locks.pop(session_id, None)
        self.hooks.session_deleted(session_id)
        self.hooks.events_committed()

    # ------------------------------------------------------------------ process lifecycle

    async def restore(self, limit: int | None = None) -> int:
        """Claim and start sessions that should run and that no live worker holds, until
        this worker runs ``limit`` (its share of the fleet's sessions; its capacity when
        None).

        Runs at boot (restore) and on every lease pass (taking over the sessions
        of a worker that died), a few at a time so a thousand sessions do not
        stampede.
        """
        room = min(self.capacity, self.capacity if limit is None else limit)
        async with self.db.read() as tx:
            candidates = await sessions.claimable_sessions(
                tx,
                self.worker_id,
                self.clock.now(),
                room - len(self.running()),
                running_here=list(self._runtimes),
            )
        wanted = sorted(set(candidates) - set(self._runtimes))
        locks = [self._lock(sid) for sid in wanted]
        for lock in locks:  # in one order; every other holder takes a single session's lock
            await lock.acquire()
        try:
            started = await self._claim_and_start([s for s in wanted if s not in self._runtimes])
        finally:
            for lock in locks:
                lock.release()
        if started:
            log.info("sessions started here", count=started, worker_id=self.worker_id)
        return started

    async def _claim_and_start(self, candidates: list[str]) -> int:
        """Claim these sessions in one statement (a takeover claims a dead worker's sessions
        together) and start the claimed ones, a few at a time; their locks are held."""
        if not candidates:
            return 0
        began = self.clock.now()
        async with self._lease_transaction() as tx:
            claimed = await sessions.claim_leases(
                tx, candidates, self.worker_id, began, self.lease_ttl_s
            )
        gate = asyncio.Semaphore(self.restore_concurrency)

        async def start_one(session_id: str, claim: sessions.Claimed) -> bool:
            async with gate:
                try:
                    return await self._start_claimed(session_id, claim, began)
                except Exception as exc:
                    log.error("could not start session", session_id=session_id, error=str(exc))
                    return False

        results = await asyncio.gather(*(start_one(sid, c) for sid, c in claimed.items()))
        return sum(results)

    async def keep_leases(self) -> None:
        """Every third of the lease TTL: renew, let go of what was lost or stopped, take over."""
        try:
            await self.heartbeat()  # in GET /v1/workers from the start
        except Exception as exc:
            log.error("heartbeat failed", error=repr(exc))
        while True:
            await self.clock.sleep(self.lease_ttl_s / 3)
            try:
                await self.lease_pass()
            except Exception as exc:
                log.error("lease pass failed", error=repr(exc))

    async def keep_receipts(self, every_s: float = 2.0, keep_s: float = 600.0) -> None:
        """Every ``every_s``: apply receipts that waited for their message's id.

        A poll for work, so it sleeps in real time (like the conversation engine's
        poll); only the age of a waiting receipt is measured on the injected clock.
        """
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.receipt_pass(keep_s)
            except Exception as exc:
                log.error("receipt pass failed", error=repr(exc))

    async def receipt_pass(self, keep_s: float = 600.0) -> int:
        """Apply the waiting receipts whose message now has its WhatsApp id; forget those
        that waited longer than ``keep_s`` (receipts for messages wagate never sent).
        Any worker may run it: applying a receipt twice changes nothing."""
        async with self.db.read() as tx:
            waiting = await receipts.matched(tx)
        applied = [  # queued in order, committed together
            self._recorder(row.session_id, row.tenant_id).queue_receipt(
                ReceiptReceived(
                    wa_message_ids=(row.wa_message_id,),
                    status=MessageStatus(row.status),
                    chat_id=row.chat_id,
                    timestamp=row.at,
                    error_code=row.error_code,
                    error_message=row.error_message,
                ),
                park_unknown=False,
            )
            for row in waiting
        ]
        results = await asyncio.gather(*applied, return_exceptions=True)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            raise failed
        async with self.db.transaction() as tx:
            await receipts.forget(
                tx,
                [row.seq for row in waiting],
                older_than=self.clock.now() - timedelta(seconds=keep_s),
            )
        return len(waiting)

    async def heartbeat(self) -> None:
        if self.identity is not None:
            async with self._lease_transaction() as tx:
                await workers.heartbeat(tx, self.identity.report(), self.clock.now())

    def renew_soon(self) -> None:
        """A runtime found its lease unconfirmed (this worker was paused, or its clock
        jumped): run a lease pass now rather than at the next tick; one at a time."""
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.get_running_loop().create_task(
                self._renew_now(), name="lease-renewal"
            )

    async def _renew_now(self) -> None:
        try:
            await self.lease_pass()
        except Exception as exc:
            log.error("lease pass failed", error=repr(exc))

    async def lease_pass(self) -> None:
        """One pass at a time in a worker: two that overlap (the timer's and one asked
        for) would each count the same free places and move twice for one need."""
        async with self._pass_turn:
            await self._lease_pass()

    async def _lease_pass(self) -> None:
        held = {
            sid: runtime.lease.token
            for sid, runtime in self._runtimes.items()
            if runtime.lease.token is not None
        }
        began = self.clock.now()
        async with self._lease_transaction() as tx:
            kept = await sessions.renew_leases(tx, self.worker_id, held, began, self.lease_ttl_s)
            if self.identity is not None:  # the heartbeat rides the renewal's commit, and
                # is dated like the leases: the worker and its leases lapse together
                await workers.heartbeat(tx, self.identity.report(), began)
            desired = await sessions.desired_states(tx, list(kept))
        for session_id in kept:
            if (runtime := self._runtimes.get(session_id)) is not None:
                runtime.lease.renewed(began, self.lease_ttl_s)
        for session_id in set(held) - kept:  # another worker owns it now
            log.warning("lease lost; closing the session here", session_id=session_id)
            if (runtime := self._runtimes.get(session_id)) is not None:
                runtime.lease.end()  # acts no more from now, before the close below
            await self._close_here(session_id, record=False)
        for session_id, state in desired.items():  # stopped through another worker's API
            if state == DesiredState.STOPPED.value:
                await self._close_here(session_id, record=True)
        if self.gate is not None:
            for session_id in await self.gate.keep(list(self._runtimes)):
                log.warning("instance lock lost; closing the session here", session_id=session_id)
                if (runtime := self._runtimes.get(session_id)) is not None:
                    runtime.lease.end()
                await self._close_here(session_id, record=False)
                async with self._lease_transaction() as tx:  # another worker may take it
                    await sessions.release_lease(tx, session_id, self.worker_id)
        if self.identity is None:
            await self.restore()
            return
        # a fleet member: make room by rank, hand over beyond its share, take up to its
        # share, and say which sessions wait for a place
        now = self.clock.now()
        async with self.db.read() as tx:
            capacities = await workers.alive_capacities(
                tx, now, self.lease_ttl_s, me=self.worker_id, my_capacity=self.capacity
            )
            ranked = await sessions.ranked_to_run(tx, now)
        plan = FleetPlan(capacities, ranked)
        await self.displace(plan.capacity, ranked)
        await self.rebalance(plan)
        await self.restore(limit=plan.share(self.worker_id))
        await self.report_waiting(plan.capacity)

    async def displace(self, capacity: int, ranked: list[sessions.Ranked]) -> int:
        """Make room for better-ranked sessions that nobody runs: a session run here that
        ranks beyond the fleet's capacity keeps running for ``cooldown_s`` after it fell
        out, is never stopped while a message of it is being sent, and then gives its
        place up (its lease released, its desired state unchanged), at most
        ``moves_per_minute`` a minute. ``capacity``: what the live workers may run
        together; ``ranked``: the sessions that should run, best first. Returns how many
        it gave up."""
        if not self._runtimes:
            self._out_of_target.clear()
            return 0
        now = self.clock.now()
        in_target = {r.id for r in ranked[:capacity]}
        running = set(self._runtimes)  # held, whatever a long pause makes their lease look like
        needed = sum(1 for r in ranked[:capacity] if not (r.held or r.id in running))
        # the fleet's worst-ranked running sessions make room, as many as needed: each
        # worker gives up only those of them it runs, so one need moves one session
        to_free = [r.id for r in reversed(ranked[capacity:]) if r.held or r.id in running]
        to_free = to_free[:needed]
        should_run = {r.id for r in ranked}
        outside = [sid for sid in self._runtimes if sid in should_run and sid not in in_target]
        self._out_of_target = {sid: self._out_of_target.get(sid, now) for sid in outside}
        given_up = 0
        for session_id in to_free:  # worst first
            if session_id not in self._runtimes:
                continue  # another worker runs it, and gives it up
            if not self._may_move(now):
                break
            since = self._out_of_target[session_id]
            if now - since < timedelta(seconds=self.balance.cooldown_s):
                continue
            if await self._give_up(session_id, sessions.DISPLACED, "displaced", now):
                given_up += 1
        return given_up

    async def rebalance(self, plan: FleetPlan) -> int:
        """Hand over the sessions this worker runs beyond its share of the fleet, while
        other live workers have room below theirs (a new worker takes its share this
        way): the worst-ranked first, never one mid-send, within ``moves_per_minute``.
        Returns how many it handed over."""
        excess = plan.excess(self.worker_id)
        if excess <= 0:
            return 0
        now = self.clock.now()
        order = {r.id: n for n, r in enumerate(plan.ranked)}
        mine = sorted(self._runtimes, key=lambda sid: order.get(sid, -1), reverse=True)
        handed = 0
        for session_id in mine:
            if handed >= excess or not self._may_move(now):
                break
            if await self._give_up(session_id, sessions.HANDED_OVER, "rebalanced", now):
                handed += 1
        if handed:
            log.info("sessions handed over to even out the fleet", count=handed)
        return handed

    def _may_move(self, now: datetime) -> bool:
        """Within this worker's moves of the last minute."""
        while self._moves and now - self._moves[0] >= timedelta(minutes=1):
            self._moves.popleft()
        return len(self._moves) < self.balance.moves_per_minute

    async def _give_up(self, session_id: str, reason: str, metric: str, now: datetime) -> bool:
        """Stop running the session here and release its lease (its desired state stays
        running, so a worker with room takes it); False when it is mid-send."""
        async with self.db.read() as tx:
            if await messages.sending_now(tx, session_id):
                return False  # never mid-send: the next pass tries again
        log.info("giving a session up", session_id=session_id, reason=reason)
        async with self._lock(session_id):
            runtime = self._runtimes.pop(session_id, None)
            if runtime is not None:
                await runtime.close(SessionStatus.STOPPED, reason)
            await self._release(session_id)
        self._out_of_target.pop(session_id, None)
        self._moves.append(now)
        self.metrics.session_moves.labels(metric).inc()
        return True

    async def report_waiting(self, capacity: int) -> int:
        """Sessions that should run but find no place in the fleet say so, once: status
        ``stopped`` with reason ``waiting_for_capacity`` and its ``session.status`` event
        (never silently unrun). They start as soon as a place frees up."""
        now = self.clock.now()
        async with self.db.read() as tx:  # a read: the usual answer is "nothing to say"
            waiting = await sessions.beyond_capacity(
                tx, capacity, now, timedelta(seconds=self.lease_ttl_s)
            )
        news = [
            row.id
            for row in waiting
            if row.status_reason != sessions.WAITING_FOR_CAPACITY and row.id not in self._runtimes
        ]  # never one running here (after a long pause its lease may look lapsed to us)
        if not news:
            return 0
        async with self._lease_transaction() as tx:
            reported = [
                session_id
                for session_id in news
                if await sessions.report_waiting(tx, session_id, now, capacity)
            ]
        if reported:
            self.hooks.events_committed()
            log.warning("sessions wait for capacity", count=len(reported), fleet_capacity=capacity)
        return len(reported)

    async def _close_here(self, session_id: str, *, record: bool) -> None:
        async with self._lock(session_id):
            runtime = self._runtimes.pop(session_id, None)
            if runtime is not None and not runtime.closed:  # one that ended itself keeps its
                await runtime.close(  # own status (failed, logged out, qr_timeout)
                    SessionStatus.STOPPED, "stopped_by_request", record=record
                )
            if record:
                await self._release(session_id)
            elif self.gate is not None:
                await self.gate.release(session_id)

    async def shutdown(self) -> None:
        """Close every session of this process and release its leases, so another worker
        can take them over at once; their desired state stays as it is."""
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal
        runtimes, self._runtimes = dict(self._runtimes), {}
        await asyncio.gather(
            *(rt.close(SessionStatus.STOPPED, "worker_shutdown") for rt in runtimes.values()),
            return_exceptions=True,
        )
        for session_id in list(runtimes):
            try:
                await self._release(session_id)
            except Exception as exc:
                log.warning("could not release lease", session_id=session_id, error=repr(exc))
        if self.identity is not None:
            try:
                async with self._lease_transaction() as tx:
                    await workers.stopped(tx, self.worker_id, self.clock.now())
            except Exception as exc:
                log.warning("could not record the worker's stop", error=repr(exc))

    # ------------------------------------------------------------------ helpers

    async def _set_desired(self, session_id: str, desired: DesiredState) -> None:
        async with self.db.transaction() as tx:
            row = await sessions.get_session(tx, session_id, None)
            row.desired_state = desired.value
            row.updated_at = self.clock.now()

    async def _record_offline_status(
        self, session_id: str, status: SessionStatus, reason: str, **fields: Any
    ) -> None:
        async with self.db.transaction() as tx:
            await sessions.change_status(
                tx,
                session_id,
                status,
                reason,
                now=self.clock.now(),
                qr=None,
                qr_expires_at=None,
                pairing_code=None,
                **fields,
            )
        self.hooks.events_committed()
