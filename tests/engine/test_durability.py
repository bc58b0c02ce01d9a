"""Nothing lost, nothing doubled: restarts in the middle of a batch, a batch picked up
again after its replies were accepted, and two workers on one database."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select, update

from tests.api.helpers import wait_status
from tests.engine.conftest import BrainServer
from tests.engine.helpers import advance_until, assistant_session, chat, say, sent_texts
from tests.support.server import RunningServer, eventually, make_settings, running_server
from wagate.domain import FakeClock
from wagate.store.models_engine import EngineBatch, EngineStep


def _webhook(brain: BrainServer) -> dict[str, object]:
    return {"brain": {"kind": "webhook", "url": brain.url}}


async def _replied(server: RunningServer, sid: str) -> bool:
    return bool(await sent_texts(server, sid))


async def test_restart_with_messages_in_the_buffer(
    db_url: str, tmp_path: Path, clock: FakeClock, brain: BrainServer
) -> None:
    settings = make_settings(db_url, tmp_path / "data", shutdown_timeout_s=0.5)
    async with running_server(settings, clock) as first, first.client() as api:
        sid = await assistant_session(first, api, **_webhook(brain))
        await say(api, sid, "one")
        await say(api, sid, "two")

        async def buffered() -> bool:
            return (await chat(api, sid))["pending"] == 2

        await eventually(buffered)
    async with running_server(settings, clock) as second, second.client() as api:
        await wait_status(api, sid, "connected")
        await advance_until(second, lambda: _replied(second, sid))
        assert [r["message"] for r in brain.requests] == ["one\ntwo"]
        assert await sent_texts(second, sid) == ["ok"]


async def test_restart_while_the_brain_is_thinking(
    db_url: str, tmp_path: Path, clock: FakeClock, brain: BrainServer
) -> None:
    settings = make_settings(db_url, tmp_path / "data", shutdown_timeout_s=0.2)
    brain.gate = asyncio.Event()
    async with running_server(settings, clock) as first, first.client() as api:
        sid = await assistant_session(first, api, **_webhook(brain))
        await say(api, sid, "are you open today?")

        async def asked() -> bool:
            return len(brain.requests) == 1

        await advance_until(first, asked)
    # the first process stopped before the brain answered: nothing was sent
    brain.gate.set()
    async with running_server(settings, clock) as second, second.client() as api:
        await wait_status(api, sid, "connected")
        await advance_until(second, lambda: _replied(second, sid))
        await asyncio.sleep(0.2)
        assert await sent_texts(second, sid) == ["ok"]
        assert len(brain.requests) == 2  # asked again: no answer had been kept
        assert [r["message"] for r in brain.requests] == ["are you open today?"] * 2


async def test_a_batch_taken_up_again_replays_its_replies(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    """As if the worker died after accepting the replies but before marking the batch done."""
    sid = await assistant_session(server, admin, **_webhook(brain))
    brain.answer = {"output": ["part one", "part two"]}
    await say(admin, sid, "hello")
    await advance_until(server, lambda: _count(server, sid, 2))
    async with server.services.db.transaction() as tx:
        await tx.execute(
            update(EngineBatch).values(
                status="running",
                lease_owner="a-dead-worker",
                lease_expires_at=server.clock.now() - timedelta(seconds=1),
            )
        )
    server.services.engine.wake()  # type: ignore[union-attr]  # the engine runs in tests

    async def done_again() -> bool:
        async with server.services.db.read() as tx:
            batch = (await tx.scalars(select(EngineBatch))).one()
        return batch.status == "done" and batch.attempts == 2

    await advance_until(server, done_again)
    await asyncio.sleep(0.2)
    assert await sent_texts(server, sid) == ["part one", "part two"]
    assert len(brain.requests) == 1  # the kept answer was used, the brain not asked again


async def _count(server: RunningServer, sid: str, n: int) -> bool:
    return len(server.network.sent(sid)) >= n


async def test_two_workers_answer_each_message_once(
    db_url: str, tmp_path: Path, clock: FakeClock, brain: BrainServer
) -> None:
    brain.delay_s = 0.05
    chats = 12
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            running_server(
                make_settings(
                    db_url,
                    tmp_path / "data",
                    worker_id="worker-a",
                    engine_concurrency=3,
                    engine_poll_s=0.05,
                ),
                clock,
            )
        )
        b = await stack.enter_async_context(
            running_server(
                make_settings(
                    db_url,
                    tmp_path / "data",
                    worker_id="worker-b",
                    engine_concurrency=3,
                    engine_poll_s=0.05,
                ),
                clock,
            )
        )
        api = await stack.enter_async_context(a.client())
        sid = await assistant_session(a, api, **_webhook(brain))
        contacts = [f"55119000000{n:02d}" for n in range(chats)]
        for contact in contacts:
            for text in ("hi", "question"):
                response = await api.post(
                    f"/v1/simulator/{sid}/inbound", json={"from": contact, "text": text}
                )
                assert response.status_code == 202

        async def all_answered() -> bool:
            return len(a.network.sent(sid)) >= chats

        await advance_until(a, all_answered, step=0.5, limit=120)
        await asyncio.sleep(0.3)
        await a.advance(1)
        await asyncio.sleep(0.3)
        sent = a.network.sent(sid)
        assert sorted(s.to.split("@")[0] for s in sent) == sorted(contacts)  # one reply each
        assert len(brain.requests) == chats
        assert all(r["message"] == "hi\nquestion" for r in brain.requests)
        async with b.services.db.read() as tx:
            owners = {row.lease_owner for row in await tx.scalars(select(EngineBatch))}
            statuses = {row.status for row in await tx.scalars(select(EngineBatch))}
        assert statuses == {"done"}
        assert owners == {None}
        async with b.services.db.read() as tx:
            workers = [
                step.data["worker"]
                for step in await tx.scalars(select(EngineStep).where(EngineStep.kind == "brain"))
            ]
        assert len(workers) == chats
        assert set(workers) == {"worker-a", "worker-b"}  # both took batches, none twice
