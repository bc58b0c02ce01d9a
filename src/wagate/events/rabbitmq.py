"""Events to RabbitMQ: the event log published to a topic exchange, at least once, in log
order (so in order per session), from a durable cursor.

One worker of the fleet publishes at a time, under a lease on the sink's row in
``sink_cursors`` (renewed with every cursor move, and every third of the TTL when idle).
It reads the log up to the gap-free horizon, publishes each event as a persistent message
with publisher confirms, one after the other on one channel, and moves the cursor only
after the broker confirmed them all. If the broker goes away, or the worker dies, nothing
after the cursor was acknowledged: the next attempt, or the next holder, publishes it
again. A consumer that must not act twice deduplicates by ``message_id`` (the event id).

Messages: routing key the event type (``message.received``...), body the same JSON a
webhook gets (media links signed), headers ``session_id`` and ``tenant_id``,
``message_id`` the event id, ``timestamp`` the event's time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import aio_pika
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from wagate.domain import Clock, wait_for
from wagate.events.bus import EventBus
from wagate.events.horizon import LogHorizon
from wagate.events.signing import event_body
from wagate.store import Database
from wagate.store.media_links import MediaLinks
from wagate.store.models import Event
from wagate.store.repositories import events, sinks
from wagate.store.serialize import iso

log = structlog.get_logger("wagate.rabbitmq")

NAME = "rabbitmq"


@dataclass(frozen=True, slots=True)
class RabbitSettings:
    url: str
    exchange: str
    events: Sequence[str]  # types, or ("*",)
    lease_ttl_s: float = 30.0
    poll_s: float = 1.0  # looks for new events at least this often (the bus wakes it sooner)
    batch: int = 500  # events read and confirmed per cursor move
    retry_max_s: float = 30.0  # longest wait between attempts while the broker is away


class SinkMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "wagate_sink_published",
            "Events published to an event sink (RabbitMQ), confirmed by the broker.",
            ["sink"],
            registry=registry,
        )
        self.failures = Counter(
            "wagate_sink_failures",
            "Times publishing to an event sink failed (broker away, refused...).",
            ["sink"],
            registry=registry,
        )
        self.cursor = Gauge(
            "wagate_sink_cursor",
            "The last event seq an event sink has published (on the worker holding it).",
            ["sink"],
            registry=registry,
        )


class RabbitSink:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        bus: EventBus,
        horizon: LogHorizon,
        settings: RabbitSettings,
        worker_id: str,
        metrics: SinkMetrics,
        links: MediaLinks | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.bus = bus
        self.horizon = horizon
        self.settings = settings
        self.worker_id = worker_id
        self.metrics = metrics
        self.links = links  # media paths become signed links, as in webhooks
        self._types = None if "*" in settings.events else list(settings.events)
        self._holding = False

    async def run(self) -> None:
        """Publish until cancelled; after a failure wait (doubling, up to ``retry_max_s``)
        and start again from the cursor."""
        delay = 1.0
        while True:
            try:
                published = await self._publish_while_holding()
                delay = 1.0 if published else delay
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.metrics.failures.labels(NAME).inc()
                log.warning("rabbitmq sink failed; retrying", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)  # real time: the broker's recovery is not simulated
                delay = min(delay * 2, self.settings.retry_max_s)
                continue
            if not self._holding:
                await asyncio.sleep(self.settings.lease_ttl_s / 3)  # another worker publishes

    async def shutdown(self) -> None:
        if self._holding:
            async with self.db.transaction() as tx:
                await sinks.release(tx, NAME, self.worker_id)
            self._holding = False

    async def _claim(self) -> int | None:
        async with self.db.transaction() as tx:
            cursor = await sinks.claim(
                tx, NAME, self.worker_id, self.clock.now(), self.settings.lease_ttl_s
            )
        self._holding = cursor is not None
        return cursor

    async def _publish_while_holding(self) -> int:
        """Hold the lease and publish until it is lost or the broker fails; how many events
        were published."""
        cursor = await self._claim()
        if cursor is None:
            return 0
        published = 0
        connection = await aio_pika.connect(self.settings.url, timeout=10)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.declare_exchange(
                self.settings.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            waiter = self.bus.subscribe()
            try:
                renewed = self.clock.now()
                while True:
                    upto = await self.horizon.refresh()
                    async with self.db.read() as tx:
                        rows = await events.list_events(
                            tx,
                            tenant_id=None,
                            after=cursor,
                            limit=self.settings.batch,
                            types=self._types,
                            upto=upto,
                        )
                    for row in rows:  # one at a time: the broker keeps the order
                        await exchange.publish(self._message(row), routing_key=row.type)
                    full = len(rows) == self.settings.batch
                    moved_to = rows[-1].seq if full else max(cursor, upto)
                    idle_too_long = self._due(renewed)
                    if moved_to != cursor or idle_too_long:
                        if not await self._advance(moved_to):
                            log.warning("rabbitmq sink lease lost; another worker publishes")
                            self._holding = False
                            return published
                        renewed = self.clock.now()
                        cursor = moved_to
                        published += len(rows)
                        self.metrics.published.labels(NAME).inc(len(rows))
                        self.metrics.cursor.labels(NAME).set(cursor)
                    if not full:
                        waiter.clear()
                        await wait_for(waiter, self.clock, real_timeout=self.settings.poll_s)
            finally:
                self.bus.unsubscribe(waiter)

    def _due(self, renewed: datetime) -> bool:
        age = (self.clock.now() - renewed).total_seconds()
        return age >= self.settings.lease_ttl_s / 3

    async def _advance(self, seq: int) -> bool:
        async with self.db.transaction() as tx:
            return await sinks.advance(
                tx, NAME, self.worker_id, seq, self.clock.now(), self.settings.lease_ttl_s
            )

    def _message(self, row: Event) -> aio_pika.Message:
        data = row.data if self.links is None else self.links.sign_data(row.data)
        body = event_body(
            type=row.type, timestamp=iso(row.created_at), session_id=row.session_id, data=data
        )
        return aio_pika.Message(
            body.encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=row.id,
            timestamp=row.created_at,
            type=row.type,
            headers={"session_id": row.session_id, "tenant_id": row.tenant_id},
            app_id="wagate",
        )
