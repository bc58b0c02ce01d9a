"""One webhook endpoint's delivery loop, run by the worker that holds the endpoint's lease.

The worker keeps a window of the endpoint's open deliveries in memory, in
event order, and refills it from two places: rows already in the database
(retries, replays, a backlog after a restart) and, once those are all in
memory, new events of the log ("fan-out": delivery rows are inserted and the
endpoint's cursor moves in one transaction, guarded by the lease).

Sending: up to ``max_in_flight`` requests at once, started in event order.
In **ordered** mode (the default) a delivery waiting for its retry holds back
every later one of this endpoint, so events arrive in log order apart from
the overlap of requests in flight; unordered endpoints let later events pass
a failed one. While the endpoint is failing (no success since its last
failure) one request at a time probes it. Other endpoints are never held up:
each has its own worker, its own cap, and no shared connection limit.

Outcomes: 2xx delivered; 410 disables the endpoint (the delivery stays open
for when it is enabled again); anything else (other statuses, timeouts,
refused connections) is retried per the schedule, never sooner than a
``Retry-After`` on 429/503, and dead-lettered after the last attempt. An
endpoint failing for ``WAGATE_WEBHOOK_DISABLE_AFTER_S`` is disabled with a
``webhook.disabled`` event. Results are written through the group-commit
writer without waiting for the commit; a crash before it means the attempt
is made again (at-least-once; receivers deduplicate by ``webhook-id``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from wagate.domain import new_id
from wagate.events.client import AttemptResult
from wagate.events.formatted import evolution_format
from wagate.events.signing import Signer, event_body
from wagate.events.writer import EndpointChange, FanOut, Outcome
from wagate.store.models import Event, Webhook
from wagate.store.repositories import deliveries
from wagate.store.serialize import iso

if TYPE_CHECKING:
    from wagate.events.dispatcher import WebhookDispatcher

log = structlog.get_logger("wagate.events")

WINDOW = 1000  # open deliveries of one endpoint held in memory
CURSOR_SAVE_EVERY = 1000  # persist a cursor that moved over unmatched events this often


@dataclass(eq=False, slots=True)
class Pending:
    """One open delivery, as the worker holds it."""

    delivery_id: str
    seq: int
    event_id: str
    text: str
    attempts: int
    due: datetime
    in_flight: bool = False
    body: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.body = self.text.encode()


def pending_from(delivery_id: str, event: Event, attempts: int, due: datetime) -> Pending:
    text = event_body(
        type=event.type,
        timestamp=iso(event.created_at),
        session_id=event.session_id,
        data=event.data,
    )
    return Pending(delivery_id, event.seq, event.id, text, attempts, due)


class EndpointWorker:
    def __init__(
        self,
        dispatcher: WebhookDispatcher,
        hook: Webhook,
        signer: Signer | None,
        secret_error: str | None,
    ) -> None:
        self.d = dispatcher
        self.clock = dispatcher.clock
        self.webhook_id = hook.id
        self.signer = signer
        self.secret_error = secret_error
        self.queue: list[Pending] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._outstanding: list[asyncio.Future[bool]] = []
        self._reload_wanted = False
        self._db_has_more = True
        self._loaded_upto = 0
        self.hook = hook
        self.shape = evolution_format(hook)  # None: wagate's own bodies
        self.lease_until = hook.lease_expires_at
        self.scan_cursor = self.db_cursor = hook.cursor_seq
        self.failing_since = hook.failing_since

    # ------------------------------------------------------------------ control
    def apply(self, hook: Webhook) -> None:
        """The row as the dispatcher read it: a new lease, or a new version (reload all)."""
        if hook.version != self.hook.version:
            self._reload_wanted = True
            self.signer, self.secret_error = self.d.signer_for(hook)  # secret or headers changed
        self.hook = hook
        self.lease_until = hook.lease_expires_at
        self.wake()

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self.run(), name=f"webhook-endpoint-{self.webhook_id}"
        )

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self.stopping = True
        self.wake()

    @property
    def cap(self) -> int:
        if self.failing_since is not None:
            return 1
        return self.hook.max_in_flight or self.d.settings.max_in_flight

    # ------------------------------------------------------------------ loop
    async def run(self) -> None:
        try:
            while not self.stopping:
                self._wake.clear()
                try:
                    await self._refill()
                    self._disable_if_failing_too_long()
                    self._launch()
                except Exception as exc:
                    log.error(
                        "webhook endpoint pass failed", webhook_id=self.webhook_id, error=repr(exc)
                    )
                    await self.d.wait(self._wake, self.d.settings.poll_s)
                    continue
                await self.d.wait(self._wake, self._next_wake_s())
        finally:
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
            # committed before the dispatcher may start a worker for this endpoint again
            await asyncio.gather(*self._outstanding, return_exceptions=True)
            self.d.metrics_forget(self.webhook_id)

    async def _refill(self) -> None:
        if self._reload_wanted and not self.tasks:
            # everything this worker wrote is committed before the row and queue are reread
            await asyncio.gather(*self._outstanding, return_exceptions=True)
            self._outstanding.clear()
            async with self.d.db.read() as tx:
                row = await tx.get(Webhook, self.webhook_id, populate_existing=True)
            if row is None or not row.enabled or row.lease_owner != self.d.worker_id:
                self.stop()
                return
            self.hook = row
            self.shape = evolution_format(row)
            self.lease_until = row.lease_expires_at
            self.scan_cursor = self.db_cursor = row.cursor_seq
            self.failing_since = row.failing_since
            self.queue.clear()
            self._loaded_upto = 0
            self._db_has_more = True
            self._reload_wanted = False
        if self._reload_wanted:
            return  # wait until the requests in flight are settled
        if self._db_has_more and len(self.queue) < WINDOW // 2:
            await self._load()
        if not self._db_has_more:
            await self._fan_out()

    async def _load(self) -> None:
        room = WINDOW - len(self.queue)
        async with self.d.db.read() as tx:
            rows = await deliveries.open_deliveries(
                tx, self.webhook_id, after_seq=self._loaded_upto, limit=room
            )
        now = self.clock.now()
        for delivery, event in rows:
            due = delivery.next_attempt_at or now
            self.queue.append(pending_from(delivery.id, event, delivery.attempts, due))
        if rows:
            self._loaded_upto = rows[-1][0].event_seq
        self._db_has_more = len(rows) == room

    async def _fan_out(self) -> None:
        horizon = self.d.horizon.safe
        room = WINDOW - len(self.queue)
        if horizon <= self.scan_cursor or room < WINDOW // 2:
            return  # refill in batches: one commit for hundreds of events, not one each
        async with self.d.db.read() as tx:
            events = await deliveries.matching_events(
                tx, self.hook, after=self.scan_cursor, upto=horizon, limit=room
            )
        new_cursor = events[-1].seq if len(events) == room else horizon
        if self.shape is not None:  # only the events the format has a word for
            events = [event for event in events if self.shape.accepts(event.type, event.data)]
        if not events and new_cursor - self.db_cursor < CURSOR_SAVE_EVERY:
            self.scan_cursor = new_cursor  # nothing for us; saved later with the next match
            return
        now = self.clock.now()
        due = now + timedelta(seconds=self.d.settings.first_delay_s)
        rows: list[dict[str, Any]] = []
        fresh: list[Pending] = []
        for event in events:
            delivery_id = new_id("dlv")
            rows.append(
                {
                    "id": delivery_id,
                    "webhook_id": self.webhook_id,
                    "event_seq": event.seq,
                    "event_id": event.id,
                    "event_type": event.type,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": due,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            fresh.append(pending_from(delivery_id, event, 0, due))
        op = FanOut(self.webhook_id, self.d.worker_id, self.db_cursor, new_cursor, rows)
        if not await self.d.writer.submit(op):
            log.info("webhook endpoint lost its lease or was disabled", webhook_id=self.webhook_id)
            self.stop()
            return
        self.scan_cursor = self.db_cursor = new_cursor
        self.queue.extend(fresh)
        if fresh:
            self._loaded_upto = fresh[-1].seq

    def _launch(self) -> None:
        now = self.clock.now()
        if self.stopping or self._reload_wanted:  # a reload waits for the requests in flight
            return
        if self.lease_until is None or now >= self.lease_until:
            return
        cap = self.cap
        ordered = self.hook.ordered
        for item in self.queue:
            if len(self.tasks) >= cap:
                return
            if item.in_flight:
                continue
            if item.due > now:
                if ordered:
                    return
                continue
            item.in_flight = True
            task = asyncio.get_running_loop().create_task(
                self._deliver(item), name=f"webhook-delivery-{item.delivery_id}"
            )
            self.tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery task failed", error=repr(task.exception()))
        self.wake()

    def _next_wake_s(self) -> float:
        poll = self.d.settings.poll_s
        waiting = (i.due for i in self.queue if not i.in_flight)
        first = next(waiting, None) if self.hook.ordered else min(waiting, default=None)
        if first is None:
            return poll
        return max(0.0, min(poll, (first - self.clock.now()).total_seconds()))

    # ------------------------------------------------------------------ one attempt
    async def _deliver(self, item: Pending) -> None:
        gauge = self.d.metrics.in_flight.labels(self.webhook_id)
        gauge.inc()
        try:
            if item.attempts:
                self.d.metrics.retries.inc()
            try:
                result = await self._attempt(item)
            except Exception as exc:  # a bug here must not spin: count it as a failed attempt
                log.exception("webhook attempt failed unexpectedly", webhook_id=self.webhook_id)
                result = AttemptResult(None, f"internal_error: {exc!r}"[:500], None, None, 0)
            self.d.metrics.latency.observe(result.duration_ms / 1000)
            self._settle(item, result)
        finally:
            item.in_flight = False
            gauge.dec()

    async def _attempt(self, item: Pending) -> AttemptResult:
        if self.signer is None:
            return AttemptResult(None, f"secret_unreadable: {self.secret_error}", None, None, 0)
        text, url = item.text, self.hook.url
        if self.d.media is not None:  # a fresh signed link per attempt, or the file inline
            text = await self.d.media.webhook_body(text, self.hook.inline_media_max_bytes)
        if self.shape is not None:
            formatted = await self.d.formatted.evolution(self.hook, self.shape, text)
            if formatted is None:  # an event the webhook stopped asking for since fan-out
                return AttemptResult(204, None, "not sent: not an event of this format", None, 0)
            url, text = formatted
        body = item.body if text is item.text else text.encode()
        headers = self.signer.headers(item.event_id, text, self.clock.now())
        operator = self.hook.managed_by is not None  # set in the environment, not by a tenant
        return await self.d.client.post(url, body, headers, operator=operator)

    def _settle(self, item: Pending, result: AttemptResult) -> None:
        now = self.clock.now()
        attempts = item.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_attempt_at": now,
            "last_status": result.status,
            "last_error": result.error,
            "last_response": result.response,
            "last_duration_ms": result.duration_ms,
            "delivered_at": None,
            "updated_at": now,
        }
        metrics = self.d.metrics
        if result.ok:
            self._forget(item)
            self._record(item, values, status="delivered", next_at=None, delivered_at=now)
            metrics.attempts.labels("delivered").inc()
            if self.failing_since is not None:
                self.failing_since = None
                self._change({"failing_since": None})
            return
        item.attempts = attempts
        if result.status == 410:
            item.due = now
            self._record(item, values, status="failed", next_at=now)
            metrics.attempts.labels("gone").inc()
            self._disable("gone", now, result)
            return
        decision = self.d.settings.retry.decide(attempts)
        if not decision.retry:
            self._forget(item)
            self._record(item, values, status="dead", next_at=None)
            metrics.attempts.labels("dead").inc()
            metrics.dead_letters.inc()
        else:
            delay = max(decision.delay_s, result.retry_after_s or 0.0)
            item.due = now + timedelta(seconds=delay)
            self._record(item, values, status="failed", next_at=item.due)
            metrics.attempts.labels("retry").inc()
        if self.failing_since is None:
            self.failing_since = now
            self._change({"failing_since": now})
        self._disable_if_failing_too_long(result)

    def _record(
        self,
        item: Pending,
        values: dict[str, Any],
        *,
        status: str,
        next_at: datetime | None,
        delivered_at: datetime | None = None,
    ) -> None:
        values.update(status=status, next_attempt_at=next_at, delivered_at=delivered_at)
        self._outstanding.append(self.d.writer.submit(Outcome(item.delivery_id, values)))
        if len(self._outstanding) > 2 * WINDOW:
            self._outstanding = [f for f in self._outstanding if not f.done()]

    def _change(self, values: dict[str, Any]) -> None:
        self._outstanding.append(self.d.writer.submit(EndpointChange(self.webhook_id, values)))

    def _forget(self, item: Pending) -> None:
        for index, queued in enumerate(self.queue):  # settled items are nearly always in front
            if queued is item:
                del self.queue[index]
                return

    def _disable_if_failing_too_long(self, result: AttemptResult | None = None) -> None:
        if self.failing_since is None or self.stopping:
            return
        failing_for = (self.clock.now() - self.failing_since).total_seconds()
        if failing_for >= self.d.settings.disable_after_s:
            self._disable("failing", self.clock.now(), result)

    def _disable(self, reason: str, now: datetime, result: AttemptResult | None) -> None:
        if self.stopping:
            return
        hook = self.hook
        data = {
            "webhook_id": hook.id,
            "url": hook.url,
            "reason": reason,
            "failing_since": iso(self.failing_since),
            "disabled_at": iso(now),
            "last_status": result.status if result else None,
            "last_error": result.error if result else None,
        }
        self.d.writer.submit(
            EndpointChange(
                hook.id,
                {
                    "enabled": False,
                    "disabled_reason": reason,
                    "disabled_at": now,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "updated_at": now,
                },
                only_if_enabled=True,
                event=(hook.tenant_id, hook.session_id, "webhook.disabled", data),
            )
        )
        self.d.metrics.disabled.labels(reason).inc()
        log.warning("webhook endpoint disabled", webhook_id=hook.id, reason=reason, url=hook.url)
        self.stop()
