"""Events to RabbitMQ: a real broker on loopback (Debian's rabbitmq-server), a consumer
queue bound to wagate's exchange, and the outage drill: the broker goes away, events keep
coming, wagate restarts, the broker comes back, and every event arrives, in order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from tests.events.support import emit, event_settings
from tests.support.rabbitmq import RabbitServer, require_rabbitmq
from tests.support.server import RunningServer, running_server
from wagate.domain import FakeClock
from wagate.store.models import SinkCursor

QUEUE = "consumer"


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[RabbitServer]:
    require_rabbitmq()
    server = RabbitServer(tmp_path / "rabbitmq")
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.close)


async def _bind_queue(url: str, routing_key: str = "#") -> None:
    """A consumer's durable queue on wagate's exchange, declared before events flow."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            "wagate.events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(QUEUE, durable=True)
        await queue.bind(exchange, routing_key=routing_key)


async def _drain(url: str, count: int, timeout: float = 30.0) -> list[aio_pika.IncomingMessage]:
    """Read from the consumer's queue until ``count`` messages came (acknowledged)."""
    got: list[aio_pika.IncomingMessage] = []
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(QUEUE, durable=True)
        deadline = asyncio.get_running_loop().time() + timeout
        while len(got) < count:
            assert asyncio.get_running_loop().time() < deadline, f"only {len(got)} of {count}"
            message = await queue.get(fail=False, timeout=5)
            if message is None:
                await asyncio.sleep(0.1)
                continue
            await message.ack()
            got.append(message)
    return got


def _body(message: aio_pika.IncomingMessage) -> dict[str, Any]:
    return dict(json.loads(message.body))


async def test_events_are_published_in_log_order_with_their_ids(
    db_url: str, tmp_path: Path, clock: FakeClock, broker: RabbitServer
) -> None:
    await _bind_queue(broker.url)
    settings = event_settings(db_url, tmp_path / "data", rabbitmq_url=broker.url)
    async with running_server(settings, clock) as server:
        first = await emit(server, 3, type="message.received", session_id="ses_a")
        then = await emit(server, 2, type="alert", session_id="ses_b")
        got = await _drain(broker.url, 5)
        assert [m.message_id for m in got] == first + then
        assert [m.routing_key for m in got] == ["message.received"] * 3 + ["alert"] * 2
        assert got[0].delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert got[0].headers["session_id"] == "ses_a"
        payload = _body(got[0])
        assert (payload["type"], payload["session_id"], payload["data"]) == (
            "message.received",
            "ses_a",
            {"n": 0},
        )
        assert 'wagate_sink_published_total{sink="rabbitmq"} 5.0' in (await _metrics(server))


async def _metrics(server: RunningServer) -> str:
    async with server.client() as api:
        return (await api.get("/metrics")).text


async def _cursor(server: RunningServer) -> int:
    async with server.services.db.read() as tx:
        row = await tx.get(SinkCursor, "rabbitmq")
        return row.cursor_seq if row else -1


async def test_the_outage_drill_broker_down_wagate_restarted_nothing_lost(
    db_url: str, tmp_path: Path, clock: FakeClock, broker: RabbitServer
) -> None:
    await _bind_queue(broker.url)
    settings = event_settings(db_url, tmp_path / "data", rabbitmq_url=broker.url)
    sent: list[str] = []
    async with running_server(settings, clock) as server:
        sent += await emit(server, 5, session_id="ses_a")
        await _drain(broker.url, 5)  # the consumer is up to date before the outage
        await asyncio.to_thread(broker.stop)  # the broker goes away
        sent += await emit(server, 10, session_id="ses_a")
        sent += await emit(server, 10, session_id="ses_b")
        await asyncio.sleep(1.5)  # publishing fails meanwhile; the cursor stays
        stuck_at = await _cursor(server)
    async with running_server(settings, clock) as server:  # wagate restarted, broker still away
        sent += await emit(server, 5, session_id="ses_b")
        assert await _cursor(server) == stuck_at
        await asyncio.to_thread(broker.start)  # the broker comes back, its queue with it
        got = await _drain(broker.url, 25, timeout=60)
    ids = [m.message_id for m in got]
    assert set(ids) == set(sent[5:])  # every event of the outage, none lost
    first_seen = list(dict.fromkeys(ids))  # at least once: a repeat keeps its place
    for session in ("ses_a", "ses_b"):
        mine = [m.message_id for m in got if m.headers["session_id"] == session]
        expected = [i for i in sent[5:] if i in set(mine)]
        assert list(dict.fromkeys(mine)) == expected  # in order per session
    assert first_seen == sent[5:]
