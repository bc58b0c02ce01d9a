"""Webhook delivery for one process: leases on endpoints, one worker per endpoint held.

The dispatcher wakes when this process commits events (``EventBus``), when
the API changes a webhook (:meth:`WebhookDispatcher.reconfigure`) and every
``WAGATE_EVENTS_POLL_S`` (events and changes from other workers). Each time
it moves the log horizon (``horizon.py``) and nudges the endpoint workers
(``endpoint.py``); on the poll, or when asked, it also claims endpoints.

Several workers on one database: an endpoint is delivered to by the worker
that holds its lease (``webhooks.lease_owner``/``lease_expires_at``, taken
in one conditional UPDATE, renewed when a third of ``WAGATE_LEASE_TTL_S``
is left, released on shutdown). A worker whose lease lapsed stops sending,
and its fan-out is refused (the cursor only moves under the lease), so two
workers never deliver the same endpoint's events at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from wagate.domain import Clock, RetryStrategy, wait_for
from wagate.events.bus import EventBus
from wagate.events.client import WebhookClient
from wagate.events.endpoint import EndpointWorker
from wagate.events.formatted import FormattedBodies
from wagate.events.horizon import LogHorizon
from wagate.events.media_out import OutgoingMedia
from wagate.events.metrics import DeliveryMetrics
from wagate.events.sealed import open_headers, open_secret
from wagate.events.signing import Signer
from wagate.events.writer import DeliveryWriter
from wagate.store import Database
from wagate.store.crypto import SecretBox, SecretUnreadable
from wagate.store.models import Webhook
from wagate.store.repositories import deliveries, webhooks

log = structlog.get_logger("wagate.events")

PURGE_EVERY = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    retry: RetryStrategy  # attempts after the first, and when to give up
    first_delay_s: float  # before the first attempt
    max_in_flight: int
    disable_after_s: float
    poll_s: float
    lease_ttl_s: float
    retention_s: float

    @classmethod
    def from_schedule(
        cls,
        schedule: list[float],
        *,
        max_in_flight: int,
        disable_after_s: float,
        poll_s: float,
        lease_ttl_s: float,
        retention_s: float,
        jitter: float = 0.2,
    ) -> DeliverySettings:
        """``schedule[i]`` is the wait before attempt ``i + 1``; its length is the attempts."""
        retry = RetryStrategy(
            max_attempts=len(schedule), schedule=tuple(schedule[1:]) or None, jitter=jitter
        )
        return cls(
            retry=retry,
            first_delay_s=schedule[0],
            max_in_flight=max_in_flight,
            disable_after_s=disable_after_s,
            poll_s=poll_s,
            lease_ttl_s=lease_ttl_s,
            retention_s=retention_s,
        )


class WebhookDispatcher:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        bus: EventBus,
        horizon: LogHorizon,
        box: SecretBox,
        client: WebhookClient,
        settings: DeliverySettings,
        metrics: DeliveryMetrics,
        worker_id: str,
        media: OutgoingMedia | None = None,
        server_url: str | None = None,
    ) -> None:
        self.db = db
        self.formatted = FormattedBodies(db, clock, server_url, box)  # bodies in other shapes
        self.media = media  # signed links (and inline files) in bodies; None: as stored
        self.clock = clock
        self.bus = bus
        self.horizon = horizon
        self.box = box
        self.client = client
        self.settings = settings
        self.metrics = metrics
        self.worker_id = worker_id
        self.writer = DeliveryWriter(db, clock.now, bus.notify)
        self.workers: dict[str, EndpointWorker] = {}
        self._retiring: dict[str, EndpointWorker] = {}
        self._wake = asyncio.Event()
        self._claim_wanted = True
        self._stopping = False
        self._writer_task: asyncio.Task[None] | None = None
        self._last_purge: datetime | None = None

    def reconfigure(self) -> None:
        """A webhook changed through the API: claim and reload at once, not at the next poll."""
        self._claim_wanted = True
        self._wake.set()

    def drop(self, webhook_id: str) -> None:
        """A webhook was deleted or disabled here: its worker stops sending now."""
        if webhook_id in self.workers:
            self._retire(webhook_id)
        self.reconfigure()

    async def wait(self, event: asyncio.Event, timeout: float) -> None:
        await wait_for(event, self.clock, timeout=timeout)

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        """The dispatcher loop; the writer it starts lives on until :meth:`shutdown`."""
        self._writer_task = asyncio.get_running_loop().create_task(
            self.writer.run(), name="webhook-writer"
        )
        self._wake = self.bus.subscribe()  # set by every commit of events, and by reconfigure()
        next_claim = self.clock.now()
        try:
            while not self._stopping:
                if self._writer_task.done():
                    self._writer_task.result()  # a crashed writer stops the service loudly
                self._wake.clear()
                self._check_workers()
                try:
                    now = self.clock.now()
                    if self._claim_wanted or now >= next_claim:
                        self._claim_wanted = False
                        await self._claim(now)
                        next_claim = now + timedelta(seconds=self.settings.poll_s)
                    if self.workers:  # nobody to feed: leave the log alone
                        await self.horizon.refresh()
                    for worker in self.workers.values():
                        worker.wake()
                except Exception as exc:
                    log.error("webhook dispatcher pass failed", error=repr(exc))
                until_claim = (next_claim - self.clock.now()).total_seconds()
                await wait_for(
                    self._wake,
                    self.clock,
                    timeout=min(self.settings.poll_s, max(0.0, until_claim)),
                    real_timeout=self.horizon.pending_gap_s(),
                )
        finally:
            self.bus.unsubscribe(self._wake)

    async def _claim(self, now: datetime) -> None:
        async with self.db.transaction() as tx:
            await webhooks.claim(tx, owner=self.worker_id, now=now, ttl_s=self.settings.lease_ttl_s)
        async with self.db.read() as tx:
            held = {hook.id: hook for hook in await webhooks.held_by(tx, self.worker_id)}
        for webhook_id, worker in list(self.workers.items()):
            if webhook_id not in held or worker.stopping:
                self._retire(webhook_id)
        for webhook_id, hook in held.items():
            current = self.workers.get(webhook_id)
            if current is not None:
                current.apply(hook)
            elif webhook_id not in self._retiring and not self._stopping:
                self._start(hook)
        if self._last_purge is None or now - self._last_purge >= PURGE_EVERY:
            self._last_purge = now
            before = now - timedelta(seconds=self.settings.retention_s)
            async with self.db.transaction() as tx:
                purged = await deliveries.purge_delivered(tx, before)
            if purged:
                log.info("old webhook deliveries purged", count=purged)

    def signer_for(self, hook: Webhook) -> tuple[Signer | None, str | None]:
        """The endpoint's signer (its secret and extra headers opened), or why there is none."""
        try:
            return Signer(open_secret(self.box, hook), open_headers(self.box, hook)), None
        except (SecretUnreadable, ValueError) as exc:
            log.error("webhook secret unreadable", webhook_id=hook.id, error=str(exc))
            return None, str(exc)

    def _start(self, hook: Webhook) -> None:
        signer, error = self.signer_for(hook)
        worker = EndpointWorker(self, hook, signer, error)
        self.workers[hook.id] = worker
        worker.start()
        assert worker.task is not None
        worker.task.add_done_callback(lambda _: self.reconfigure())

    def _retire(self, webhook_id: str) -> None:
        worker = self.workers.pop(webhook_id)
        worker.stop()
        self._retiring[webhook_id] = worker

    def _check_workers(self) -> None:
        """Forget workers that ended; an endpoint freed that way is claimed again at once."""
        for webhook_id, worker in list(self._retiring.items()):
            if worker.task is None or worker.task.done():
                del self._retiring[webhook_id]
                self.reconfigure()
        for worker in list(self.workers.values()):
            task = worker.task
            if task is not None and task.done():
                if not task.cancelled() and task.exception() is not None:
                    raise RuntimeError(f"webhook worker {worker.webhook_id} crashed") from (
                        task.exception()
                    )
                self.workers.pop(worker.webhook_id, None)
                self.reconfigure()

    def metrics_forget(self, webhook_id: str) -> None:
        with contextlib.suppress(KeyError):
            self.metrics.in_flight.remove(webhook_id)

    # ------------------------------------------------------------------ stopping
    async def shutdown(self, timeout: float) -> None:
        """Let requests in flight finish up to ``timeout``, commit their results, release leases."""
        self._stopping = True
        workers = [*self.workers.values(), *self._retiring.values()]
        for worker in workers:
            worker.stop()
        tasks = [w.task for w in workers if w.task is not None and not w.task.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(0.01, timeout))
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self.workers.clear()
        self._retiring.clear()
        if self._writer_task is not None:
            self._writer_task.cancel()
            await asyncio.gather(self._writer_task, return_exceptions=True)
        try:
            await self.writer.drain()
            async with self.db.transaction() as tx:
                await webhooks.release(tx, self.worker_id)
        except Exception as exc:
            log.error("webhook delivery shutdown could not write", error=repr(exc))
        await self.client.close()
