"""Following the event log into another system, durably, in order, one worker at a time.

A follower has a named cursor in the log (``sink_cursors``) and a lease on it. The
worker holding the lease reads the events after the cursor (of one session or tenant,
of some types), hands each to ``handle`` and moves the cursor past it, one commit per
event: a restart, a crash or another worker taking over continues from the cursor, so
nothing is skipped, and an event handled just before a crash may be handled again
(receivers deduplicate by the event's id, or the handler makes it harmless).

When ``handle`` raises :class:`Unreachable` (the other system did not answer, or
answered 5xx/429), the same event is tried again after a backoff on the clock and
nothing after it moves; the lease is renewed meanwhile. Any other exception means the
event was refused: it is dead-lettered (``source``: the follower's) and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from wagate.domain import Clock, RetryStrategy, WagateError, wait_for
from wagate.events.bus import EventBus
from wagate.events.horizon import LogHorizon
from wagate.store import Database
from wagate.store.models import Event
from wagate.store.repositories import events, sinks

log = structlog.get_logger("wagate.events")

BATCH = 50
# while the other side is away: waits on the clock, no jitter (one sender per cursor)
AWAY = RetryStrategy(max_attempts=1_000_000, schedule=(1, 2, 5, 15, 30, 60), jitter=0)


class Unreachable(WagateError):
    """The other system did not take the event now (no answer, 5xx, 429): try again."""

    status_code = 502
    code = "unreachable"


@dataclass(frozen=True, slots=True)
class FollowerSpec:
    """Which events a follower reads, from where, and what it is called in logs and in
    the dead letters."""

    name: str  # its cursor's name in ``sink_cursors``
    source: str  # ``dead_letters.source`` of the events it refuses
    types: Sequence[str]
    session_id: str | None = None
    tenant_id: str | None = None


class LogFollower:
    def __init__(
        self,
        spec: FollowerSpec,
        handle: Callable[[Event], Awaitable[None]],
        *,
        db: Database,
        clock: Clock,
        bus: EventBus,
        horizon: LogHorizon,
        worker_id: str,
        lease_ttl_s: float,
        poll_s: float,
        retry: RetryStrategy = AWAY,
    ) -> None:
        self.spec = spec
        self.handle = handle
        self.db = db
        self.clock = clock
        self.bus = bus
        self.horizon = horizon
        self.worker_id = worker_id
        self.lease_ttl_s = lease_ttl_s
        self.poll_s = poll_s
        self.retry = retry
        self._stopping = False
        self._stop = asyncio.Event()
        self._waiter = asyncio.Event()

    async def begin(self) -> None:
        """Make the cursor now, at the log's end, unless it exists. A cursor is otherwise
        made at the first claim: a follower started beside the work that appends its
        events (a worker's boot) would miss what that work appended before the claim."""
        async with self.db.transaction() as tx:
            await sinks.start(tx, self.spec.name, self.clock.now())

    def stop(self) -> None:
        """End :meth:`run` between two events (never in the middle of a transaction: a
        cancelled one may leave the database's connection to be torn down under it)."""
        self._stopping = True
        self._stop.set()
        self._waiter.set()

    async def run(self) -> None:
        """Follow until :meth:`stop`: wait while another worker holds the lease."""
        waiter = self._waiter = self.bus.subscribe()
        if self._stopping:
            waiter.set()
        try:
            while not self._stopping:
                cursor = await self._claim()
                if cursor is None:  # another worker follows it
                    log.debug("log follower waits for the lease", follower=self.spec.name)
                    await wait_for(self._stop, self.clock, timeout=self.lease_ttl_s / 3)
                    continue
                upto = await self.horizon.refresh()
                async with self.db.read() as tx:
                    rows = await events.list_events(
                        tx,
                        tenant_id=self.spec.tenant_id,
                        session_id=self.spec.session_id,
                        after=cursor,
                        limit=BATCH,
                        types=list(self.spec.types),
                        upto=upto,
                    )
                if not await self._follow(rows):
                    log.warning("log follower lost its lease", follower=self.spec.name)
                    continue
                if len(rows) < BATCH:
                    waiter.clear()
                    await wait_for(
                        waiter, self.clock, timeout=self.lease_ttl_s / 3, real_timeout=self.poll_s
                    )
        finally:
            self.bus.unsubscribe(waiter)
            with contextlib.suppress(Exception):
                async with self.db.transaction() as tx:
                    await sinks.release(tx, self.spec.name, self.worker_id)

    async def _claim(self) -> int | None:
        async with self.db.transaction() as tx:
            return await sinks.claim(
                tx, self.spec.name, self.worker_id, self.clock.now(), self.lease_ttl_s
            )

    async def _advance(self, seq: int) -> bool:
        async with self.db.transaction() as tx:
            return await sinks.advance(
                tx, self.spec.name, self.worker_id, seq, self.clock.now(), self.lease_ttl_s
            )

    async def _follow(self, rows: list[Event]) -> bool:
        """Handle each event, moving the cursor past it; False when the lease was lost."""
        for row in rows:
            if self._stopping:
                return True
            attempt = 0
            while not self._stopping:
                try:
                    await self.handle(row)
                    break
                except Unreachable as exc:
                    attempt += 1
                    delay = self.retry.base_delay(attempt)
                    log.warning(
                        "the other side is away; trying again",
                        follower=self.spec.name,
                        error=exc.message,
                        retry_in_s=delay,
                    )
                    if not await self._advance(row.seq - 1):  # keeps the lease meanwhile
                        return False
                    await wait_for(self._stop, self.clock, timeout=delay)
                except Exception as exc:  # refused, or a bug: kept, then skipped
                    await self._dead_letter(row, exc)
                    break
            else:
                return True  # stopped while the other side was away: the event stays
            if not await self._advance(row.seq):
                return False
        if not rows:
            return await self._claim() is not None  # renew the lease while idle
        return True

    async def _dead_letter(self, row: Event, exc: Exception) -> None:
        reason = exc.message if isinstance(exc, WagateError) else repr(exc)
        log.error(
            "an event was refused; skipped", follower=self.spec.name, event_id=row.id, error=reason
        )
        async with self.db.transaction() as tx:
            await events.add_dead_letter(
                tx,
                source=self.spec.source,
                session_id=row.session_id,
                payload={"event_id": row.id, "type": row.type, "data": row.data},
                reason=reason[:1000],
                now=self.clock.now(),
            )
