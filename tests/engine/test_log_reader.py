"""The log reader applies each event exactly once, even when its lease changes hands
in the middle of a page (database-level, both backends)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from wagate.domain import DesiredState, FakeClock
from wagate.engine.ingest import CURSOR, LogReader
from wagate.events import LogHorizon
from wagate.store import Database
from wagate.store.models_engine import Assistant, EngineCursor, EngineInbox, EngineStep
from wagate.store.repositories import events, sessions, tenants


async def _setup(db: Database, clock: FakeClock) -> tuple[str, str]:
    async with db.transaction() as tx:
        tenant = await tenants.ensure_tenant(tx, tenants.DEFAULT_TENANT, clock.now())
        session = await sessions.create_session(
            tx,
            tenant_id=tenant.id,
            name="s",
            transport="simulator",
            config={},
            proxy_url=None,
            priority=0,
            desired=DesiredState.STOPPED,
            now=clock.now(),
        )
        tx.add(
            Assistant(
                session_id=session.id,
                tenant_id=tenant.id,
                enabled=True,
                config={"brain": {"kind": "echo"}},
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
    return tenant.id, session.id


async def _message(
    db: Database, clock: FakeClock, tenant: str, sid: str, n: int, *, from_me: bool = False
) -> None:
    data: dict[str, Any] = {
        "id": f"msg_{n}",
        "direction": "in",
        "from_me": from_me,
        "chat_id": f"55119000000{n:02d}@s.whatsapp.net",
        "chat_type": "direct",
        "type": "text",
        "text": f"hello {n}",
    }
    async with db.transaction() as tx:
        await events.append_event(
            tx,
            tenant_id=tenant,
            session_id=sid,
            type="message.received",
            data=data,
            now=clock.now(),
        )


def _reader(db: Database, clock: FakeClock, owner: str) -> LogReader:
    return LogReader(
        db=db,
        clock=clock,
        horizon=LogHorizon(db),
        owner=owner,
        lease_ttl_s=30,
        notify=lambda: None,
    )


async def _buffered(db: Database) -> list[str]:
    async with db.read() as tx:
        return sorted(await tx.scalars(select(EngineInbox.message_id)))


async def _buffered_steps(db: Database) -> list[str]:
    async with db.read() as tx:
        rows = await tx.scalars(select(EngineStep).where(EngineStep.kind == "buffered"))
        return sorted(step.data["message_id"] for step in rows)


async def test_one_reader_at_a_time(db: Database, clock: FakeClock) -> None:
    tenant, sid = await _setup(db, clock)
    a, b = _reader(db, clock, "worker-a"), _reader(db, clock, "worker-b")
    assert await a.hold()
    assert not await b.hold()
    for n in range(3):
        await _message(db, clock, tenant, sid, n)
    await a.read()
    assert await _buffered(db) == ["msg_0", "msg_1", "msg_2"]
    assert await b.read() is False  # not the holder: reads nothing
    await clock.advance(31)  # A's lease lapses: B may take over
    assert await b.hold()
    assert await a.read() is False


async def test_a_page_is_applied_once_when_the_lease_changes_hands_mid_page(
    db: Database, clock: FakeClock
) -> None:
    tenant, sid = await _setup(db, clock)
    a, b = _reader(db, clock, "worker-a"), _reader(db, clock, "worker-b")
    assert await a.hold()
    for n in range(3):
        await _message(db, clock, tenant, sid, n)
    await _message(db, clock, tenant, sid, 7, from_me=True)  # the owner, in chat 7
    real_refresh = a.horizon.refresh

    async def b_takes_over_meanwhile() -> int:
        """Between A reading the cursor and A writing: A's lease lapses, B applies the page."""
        await clock.advance(31)
        assert await b.hold()
        await b.read()
        return await real_refresh()

    a.horizon.refresh = b_takes_over_meanwhile  # type: ignore[method-assign]  # test seam
    assert await a.read() is False  # A's conditional cursor move fails: its page rolls back
    assert await _buffered_steps(db) == ["msg_0", "msg_1", "msg_2"]  # once each, by B
    async with db.read() as tx:
        kinds = list(
            await tx.scalars(select(EngineStep.kind).where(EngineStep.chat_id.like("%07@%")))
        )
    assert kinds == ["paused"]  # applied twice, it would add a "human_reply" step
    async with db.read() as tx:
        cursor = await tx.get(EngineCursor, CURSOR)
    assert cursor is not None
    assert cursor.lease_owner == "worker-b"
