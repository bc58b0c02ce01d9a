"""Status changes of outbound messages, committed with the database's other writes.

Every status change of an outbound message (sending, sent, failed, waiting)
is an :class:`Op` queued on the database's batch writer
(:mod:`wagate.store.batch`): it commits in the same transaction as whatever
else is waiting (accepted messages, inbound messages, receipts), and its
caller's future resolves after the commit. A batch's status changes cost a
few statements, not one each:

* one ``SELECT`` finds which of the messages are still open (locked on
  PostgreSQL until the commit, so a receipt on another worker waits);
* the ops of each message are folded in order into one change (``sending``
  then ``sent`` becomes one ``UPDATE``), and an op that needs an open message
  whose earlier op settled it does nothing;
* the changes of one shape go out as one ``executemany``, and the events
  that announce them as another.

Operations of one caller are applied in submission order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wagate.domain import Clock, MessageStatus
from wagate.store import Connection, Database
from wagate.store.batch import BatchKind
from wagate.store.models import Message
from wagate.store.repositories import messages, sessions
from wagate.store.repositories.events import append_events
from wagate.store.serialize import iso

OPEN = (MessageStatus.QUEUED.value, MessageStatus.SENDING.value)


@dataclass(slots=True)
class Op:
    """One row change, optionally announced by an event in the same transaction."""

    seq: int
    values: dict[str, Any]
    only_if_open: bool = True  # never touch a message that is already settled
    add_attempt: bool = False  # attempts = attempts + 1
    event: tuple[str, str, str, dict[str, Any]] | None = None  # tenant, session, type, data
    lease: tuple[str, int] | None = None  # (session, fencing token) of the writing runtime
    also: list[Op] = field(default_factory=list)
    """Changes of other rows that belong with this one (the message an edit changes):
    applied in the same transaction, and only when this one is."""


@dataclass(slots=True)
class _Change:
    values: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0


class StatusChanges(BatchKind[Op]):
    name = "status"

    def __init__(self, now: Callable[[], datetime], on_events: Callable[[], None]) -> None:
        self.now = now
        self.on_events = on_events

    def apply(self, conn: Connection, ops: list[Op]) -> list[Any]:
        stale = _stale(conn, ops)
        open_now = messages.lock_open_outbound(
            conn, {op.seq for op in ops if op.only_if_open and id(op) not in stale}, OPEN
        )
        changes: dict[int, _Change] = {}
        applied: list[bool] = []
        events: list[tuple[str, str, str, dict[str, Any]]] = []
        for op in ops:
            if id(op) in stale or (op.only_if_open and op.seq not in open_now):
                applied.append(False)
                continue
            for each in (op, *op.also):
                change = changes.setdefault(each.seq, _Change())
                change.values.update(each.values)
                change.attempts += each.add_attempt
                if each.event is not None:
                    events.append(each.event)
            if op.values.get("status", OPEN[0]) not in OPEN:
                open_now.discard(op.seq)  # settled: later ops that need it open do nothing
            applied.append(True)
        messages.update_many(
            conn, [(seq, change.values, change.attempts) for seq, change in changes.items()]
        )
        append_events(conn, events, self.now())
        return list(applied)

    def committed(self, ops: list[Op], outcomes: list[Any]) -> None:
        if any(
            ok is True and any(each.event for each in (op, *op.also))
            for op, ok in zip(ops, outcomes, strict=True)
        ):
            self.on_events()


def _stale(conn: Connection, ops: list[Op]) -> set[int]:
    """The ops (by ``id()``) of runtimes whose session another worker claimed since: a
    worker that woke from a long pause must not write over the new owner's sends. One
    read per batch; on PostgreSQL a claim committing after it is not seen (the runtime
    checked its lease on its own clock before it sent, which is the guard that counts)."""
    fenced = [op for op in ops if op.lease is not None]
    if not fenced:
        return set()
    tokens = sessions.lease_tokens(conn, {op.lease[0] for op in fenced if op.lease})
    return {id(op) for op in fenced if op.lease and tokens.get(op.lease[0]) != op.lease[1]}


class StatusWriter:
    """Queues status changes on the database's batch writer."""

    def __init__(self, db: Database, clock: Clock, on_committed: Callable[[], None]) -> None:
        self.db = db
        self.kind = StatusChanges(clock.now, on_committed)

    def submit(self, op: Op) -> asyncio.Future[bool]:
        """Queue ``op``; its future says (after the commit) whether it changed the message."""
        return self.db.batches.enqueue(self.kind, op)

    async def drain(self) -> None:
        """Wait until everything queued so far is committed (at shutdown)."""
        await self.db.batches.flush()


def failure(message: Message, code: str, text: str, now: datetime) -> Op:
    """The op that fails a message for good, with its ``message.status`` event."""
    return Op(
        message.seq,
        {
            "status": MessageStatus.FAILED.value,
            "error_code": code,
            "error_message": text,
            "next_attempt_at": None,
            "hold_reason": None,
            "updated_at": now,
        },
        event=(
            message.tenant_id,
            message.session_id,
            "message.status",
            {
                "message_id": message.id,
                "wa_message_id": message.wa_message_id,
                "chat_id": message.chat_id,
                "status": MessageStatus.FAILED.value,
                "error": {"code": code, "message": text},
                "timestamp": iso(now),
            },
        ),
    )
