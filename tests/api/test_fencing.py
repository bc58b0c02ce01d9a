"""Fencing: a worker frozen past its lease TTL, then resumed, neither sends nor writes for
a session another worker took over meanwhile.

The freeze is made exact: worker A's lease passes wait on an event (its renewals stop,
as under SIGSTOP) while the shared clock moves past the TTL. Everything else of A keeps
running, which is harder than a real freeze: its dispatcher and lanes are awake and
must hold back on their own. (The chaos test freezes whole ``wagate serve`` processes.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.api.helpers import create_session, send, wait_status
from tests.support.fleet import two_workers
from tests.support.server import RunningServer, eventually
from wagate.domain import FakeClock, MessageStatus
from wagate.outbox.writer import Op, StatusWriter
from wagate.store.models import Message, Session


def freeze_renewals(worker: RunningServer) -> asyncio.Event:
    """Hold the worker's lease passes until the returned event is set (its "SIGCONT")."""
    manager = worker.services.manager
    thawed = asyncio.Event()
    original: Callable[[], Awaitable[None]] = manager._lease_pass

    async def frozen_pass() -> None:
        await thawed.wait()
        await original()

    manager._lease_pass = frozen_pass  # type: ignore[method-assign]
    return thawed


async def _row(worker: RunningServer, session_id: str) -> Session:
    async with worker.services.db.read() as tx:
        row = await tx.get(Session, session_id)
        assert row is not None
        return row


async def test_a_worker_resumed_after_its_ttl_neither_sends_nor_writes_for_a_taken_session(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    async with (
        two_workers(db_url, tmp_path, clock) as (a, b),
        a.client() as api_a,
        b.client() as api_b,
    ):
        session = await create_session(api_a, "fenced")
        sid = session["id"]
        await wait_status(api_a, sid, "qr")
        await api_a.post(f"/v1/simulator/{sid}/scan")
        await wait_status(api_a, sid, "connected")
        runtime_a = a.services.manager.runtime(sid)
        assert runtime_a is not None
        assert runtime_a.connected
        token_a = runtime_a.lease.token

        thawed = freeze_renewals(a)
        await a.advance(a.services.settings.lease_ttl_s + 1)  # A is silent past its TTL
        assert not runtime_a.holds_lease()  # on A's own clock it knows it may not act
        await b.services.manager.lease_pass()  # B takes the session over
        assert b.services.manager.runtime(sid) is not None
        await wait_status(api_b, sid, "connected")  # the saved login: no QR
        taken = await _row(b, sid)
        assert (taken.lease_owner, taken.lease_token) == ("worker-b", (token_a or 0) + 1)

        # A message accepted now: A's dispatcher sees it too, yet only B sends it
        message = await send(api_a, sid, to="5511988887777", text="after the takeover")

        async def sent_by_b() -> bool:
            await b.advance(0.2)
            return [r.message_id for r in b.network.sent(sid)] == [message["id"]]

        await eventually(sent_by_b)
        assert message["id"] not in [r.message_id for r in a.network.sent(sid)]

        # A's stale connection is dropped as replaced: its runtime would record the
        # session failed and stopped for good; the write is refused by its token
        await a.network.disconnect(sid, 440)
        await eventually(lambda: _ended(runtime_a))
        row = await _row(b, sid)
        assert (row.status, row.desired_state, row.lease_owner) == (
            "connected",
            "running",
            "worker-b",
        )

        thawed.set()  # SIGCONT: A's next pass learns it lost the lease and lets go
        await a.services.manager.lease_pass()
        assert a.services.manager.runtime(sid) is None
        events = (
            await api_b.get("/v1/events", params={"session_id": sid, "type": "session.status"})
        ).json()["items"]
        assert "replaced" not in [e["data"]["reason"] for e in events]
        assert (await api_b.get(f"/v1/messages/{message['id']}")).json()["status"] in (
            "sent",
            "delivered",
            "read",
        )
        assert [r.message_id for r in a.network.sent(sid)] == []
        assert [r.message_id for r in b.network.sent(sid)] == [message["id"]]


async def _ended(runtime: object) -> bool:
    return bool(getattr(runtime, "closed", False))


@pytest.mark.parametrize("current", [True, False], ids=["current", "stale"])
async def test_the_message_writer_refuses_a_stale_runtime(
    db_url: str, tmp_path: Path, clock: FakeClock, current: bool
) -> None:
    async with (
        two_workers(db_url, tmp_path, clock) as (a, _b),
        a.client() as api_a,
    ):
        session = await create_session(api_a, "writer", start=False)
        message = await send(api_a, session["id"], to="5511988887777", text="queued")
        async with a.services.db.read() as tx:
            row = await tx.scalar(select(Message).where(Message.id == message["id"]))
            token = (await tx.get(Session, session["id"])).lease_token  # type: ignore[union-attr]
        assert row is not None
        writer = StatusWriter(a.services.db, clock, lambda: None)
        fence = (session["id"], token if current else token - 1)
        op = Op(row.seq, {"status": MessageStatus.FAILED.value}, lease=fence)
        assert await writer.submit(op) is current
        async with a.services.db.read() as tx:
            status = await tx.scalar(select(Message.status).where(Message.id == message["id"]))
        assert status == ("failed" if current else "queued")
