"""A worker's batch changes go through the group commit, fenced by its lease, on both databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.store.test_repositories import NOW
from tests.store.test_repositories import _session as session_in
from wagate.domain import FakeClock, MessageType, OutboundMessageRequest
from wagate.domain.policy import DeliveryPolicy
from wagate.engine.closing import (
    BatchChange,
    BatchChangeKind,
    Changed,
    ChatPaused,
    LeaseLost,
    Replies,
)
from wagate.outbox import OutboundAcceptor
from wagate.outbox.accept import AcceptSettings
from wagate.store import Database
from wagate.store.media import LocalMediaStore
from wagate.store.models import Message, Session
from wagate.store.models_engine import Conversation, EngineBatch, EngineStep
from wagate.store.repositories import conversations
from wagate.transports import TransportRegistry
from wagate.transports.simulator import SimulatorTransport

CHAT = "5511999990000@s.whatsapp.net"


def _acceptor(db: Database, tmp_path: Path) -> OutboundAcceptor:
    registry = TransportRegistry()
    registry.register("simulator", lambda context: None, SimulatorTransport.capabilities)  # type: ignore[arg-type,return-value]
    return OutboundAcceptor(
        db=db,
        clock=FakeClock(NOW),
        media=LocalMediaStore(tmp_path),
        registry=registry,
        settings=AcceptSettings(media_max_bytes=1_000_000, allow_private_urls=False),
        policy_defaults=DeliveryPolicy(
            message_ttl_s=3600,
            rate_per_minute=60,
            burst_size=10,
            burst_window_s=1,
            burst_cooldown_s=0,
            daily_cap=1000,
            duplicate_window_s=60,
            opt_out_keywords=("STOP",),
            timezone="UTC",
            pacing="instant",
        ),
    )


async def _held_batch(
    db: Database, session_id: str, tenant_id: str, owner: str, n: int, chat: str = CHAT
) -> str:
    batch_id = f"bat_{owner}_{n}"
    async with db.transaction() as tx:
        await conversations.ensure_conversation(
            tx, session_id=session_id, tenant_id=tenant_id, chat_id=chat, now=NOW
        )
        tx.add(
            EngineBatch(
                id=batch_id,
                tenant_id=tenant_id,
                session_id=session_id,
                chat_id=chat,
                status="running",
                message_ids=[],
                reply=None,
                attempts=1,
                lease_owner=owner,
                lease_expires_at=NOW,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return batch_id


async def _close(
    acceptor: OutboundAcceptor,
    session: Session,
    batch_id: str,
    owner: str,
    texts: list[str],
    chat: str = CHAT,
) -> BatchChange:
    parts = []
    for index, text in enumerate(texts):
        request = OutboundMessageRequest(to=chat, type=MessageType.TEXT, text=text)
        key = f"engine:{batch_id}:part{index}"
        parts.append((f"part{index}", await acceptor.prepare(session, request, key)))
    return BatchChange(
        batch_id=batch_id,
        owner=owner,
        tenant_id=session.tenant_id,
        session_id=session.id,
        chat_id=chat,
        values={"status": "done", "lease_owner": None},
        steps=[("brain", {"batch_id": batch_id, "latency_ms": 5}, None)],
        replies=Replies(parts),
    )


async def _setup(db: Database, tmp_path: Path) -> tuple[OutboundAcceptor, BatchChangeKind, Session]:
    _, session_id = await session_in(db)
    acceptor = _acceptor(db, tmp_path)
    async with db.read() as tx:
        session = await tx.get(Session, session_id)
    assert session is not None
    return acceptor, BatchChangeKind(acceptor.admissions, lambda: NOW), session


async def _steps(db: Database) -> list[tuple[str, str, dict]]:
    async with db.read() as tx:
        rows = await tx.scalars(select(EngineStep).order_by(EngineStep.seq))
        return [(row.kind, row.data["batch_id"], row.data) for row in rows]


async def test_closes_queue_their_replies_and_write_their_steps_in_one_commit(
    db: Database, tmp_path: Path
) -> None:
    acceptor, kind, session = await _setup(db, tmp_path)
    batches = [await _held_batch(db, session.id, session.tenant_id, "w1", n) for n in range(3)]
    changes = [await _close(acceptor, session, b, "w1", [f"answer {b}"]) for b in batches]
    commits = db.commits
    changed = await asyncio.gather(*(db.batches.submit(kind, c) for c in changes))
    assert db.commits - commits == 1
    assert all(isinstance(c, Changed) and c.step and c.step[0] == "replied" for c in changed)
    async with db.read() as tx:
        rows = list(await tx.scalars(select(EngineBatch).order_by(EngineBatch.id)))
        texts = {m.id: m.text for m in await tx.scalars(select(Message))}
    assert [(r.status, r.lease_owner) for r in rows] == [("done", None)] * 3
    steps = await _steps(db)
    assert [(k, b) for k, b, _ in steps] == [(k, b) for b in batches for k in ("brain", "replied")]
    for (_, batch_id, data), _ in zip(steps[1::2], batches, strict=True):
        [message_id] = data["message_ids"]
        assert texts[message_id] == f"answer {batch_id}"


async def test_a_batch_another_worker_holds_gets_nothing_written(
    db: Database, tmp_path: Path
) -> None:
    acceptor, kind, session = await _setup(db, tmp_path)
    taken = await _held_batch(db, session.id, session.tenant_id, "w2", 0)
    mine = await _held_batch(db, session.id, session.tenant_id, "w1", 1)
    late = db.batches.enqueue(kind, await _close(acceptor, session, taken, "w1", ["too late"]))
    on_time = db.batches.enqueue(kind, await _close(acceptor, session, mine, "w1", ["on time"]))
    with pytest.raises(LeaseLost):
        await late
    assert (await on_time).step[0] == "replied"
    async with db.read() as tx:
        still = await tx.get(EngineBatch, taken)
        texts = [m.text for m in await tx.scalars(select(Message))]
    assert still is not None
    assert (still.status, still.lease_owner) == ("running", "w2")
    assert texts == ["on time"]
    assert {b for _, b, _ in await _steps(db)} == {mine}


async def test_the_closing_step_says_which_parts_were_refused_or_accepted_before(
    db: Database, tmp_path: Path
) -> None:
    acceptor, kind, session = await _setup(db, tmp_path)
    batch_id = await _held_batch(db, session.id, session.tenant_id, "w1", 0)
    before = OutboundMessageRequest(to=CHAT, type=MessageType.TEXT, text="asked before the crash")
    await acceptor.accept(session, before, f"engine:{batch_id}:part0")
    change = await _close(acceptor, session, batch_id, "w1", ["answered anew", "same", "same"])
    changed = await db.batches.submit(kind, change)
    assert changed.step is not None
    step_kind, data, _ = changed.step
    assert step_kind == "replied"
    assert data["accepted_before"] == ["part0"]
    assert [r["part"] for r in data["refused"]] == ["part2"]
    assert data["refused"][0]["code"] == "duplicate_message"
    assert len(data["message_ids"]) == 1
    assert [kind for kind, _, _ in await _steps(db)] == ["brain", "replied"]


async def test_a_close_whose_every_part_is_refused_says_so(db: Database, tmp_path: Path) -> None:
    acceptor, kind, session = await _setup(db, tmp_path)
    batch_id = await _held_batch(db, session.id, session.tenant_id, "w1", 0)
    await acceptor.accept(
        session, OutboundMessageRequest(to=CHAT, type=MessageType.TEXT, text="hello"), None
    )
    changed = await db.batches.submit(
        kind, await _close(acceptor, session, batch_id, "w1", ["hello"])
    )
    assert changed.step is not None
    assert changed.step[0] == "reply_refused"
    async with db.read() as tx:
        batch = await tx.get(EngineBatch, batch_id)
    assert batch is not None
    assert batch.status == "done"


async def test_a_chat_a_human_took_over_gets_no_reply_and_its_batch_is_skipped(
    db: Database, tmp_path: Path
) -> None:
    acceptor, kind, session = await _setup(db, tmp_path)
    other = "5511988887777@s.whatsapp.net"
    paused = await _held_batch(db, session.id, session.tenant_id, "w1", 0)
    answered = await _held_batch(db, session.id, session.tenant_id, "w1", 1, chat=other)
    async with db.transaction() as tx:
        conv = await conversations.get_conversation(tx, session.id, CHAT, lock=True)
        assert conv is not None
        conv.state = "paused"
    skipped = db.batches.enqueue(kind, await _close(acceptor, session, paused, "w1", ["late"]))
    sent = db.batches.enqueue(kind, await _close(acceptor, session, answered, "w1", ["hi"], other))
    changed, replied = await skipped, await sent
    assert changed.step == ("skipped", {"batch_id": paused, "reason": "paused"}, None)
    assert [type(outcome) for outcome in changed.outcomes] == [ChatPaused]
    assert replied.step is not None
    assert replied.step[0] == "replied"
    async with db.read() as tx:
        statuses = {b.id: b.status for b in await tx.scalars(select(EngineBatch))}
        texts = [m.text for m in await tx.scalars(select(Message))]
        still = await tx.get(Conversation, (session.id, CHAT))
    assert statuses == {paused: "skipped", answered: "done"}
    assert texts == ["hi"]
    assert still is not None
    assert still.state == "paused"
    assert [(k, b) for k, b, _ in await _steps(db)] == [
        ("brain", paused),
        ("skipped", paused),
        ("brain", answered),
        ("replied", answered),
    ]
