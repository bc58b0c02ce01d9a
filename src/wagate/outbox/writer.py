"""Group commit for the senders' status changes.

Every status change of an outbound message (sending, sent, failed, waiting)
is an operation submitted here; one task applies whatever has queued up in a
single transaction and resolves each caller's future after the commit. Under
load this turns hundreds of commits into a few, and on SQLite it keeps the
senders' writes from queueing one by one behind the API's on the single
writer connection. Operations of one caller are applied in submission order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import MessageStatus, new_id
from wagate.store import Database
from wagate.store.group_commit import GroupCommitter
from wagate.store.models import Event, Message
from wagate.store.serialize import iso

log = structlog.get_logger("wagate.outbox")

OPEN = (MessageStatus.QUEUED.value, MessageStatus.SENDING.value)
MAX_BATCH = 500


@dataclass(slots=True)
class Op:
    """One row change, optionally announced by an event in the same transaction."""

    seq: int
    values: dict[str, Any]
    only_if_open: bool = True  # never touch a message that is already settled
    add_attempt: bool = False  # attempts = attempts + 1
    event: tuple[str, str, str, dict[str, Any]] | None = None  # tenant, session, type, data
    done: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class StatusWriter(GroupCommitter[Op]):
    max_batch = MAX_BATCH

    def __init__(self, db: Database, clock: Any, on_committed: Callable[[], None]) -> None:
        self.db = db
        self.clock = clock
        self.on_committed = on_committed
        super().__init__()
        self.ops = 0

    async def apply(self, batch: list[Op]) -> None:
        try:
            async with self.db.transaction() as tx:
                results = [await _apply_one(tx, op) for op in batch]
                events = [
                    op.event
                    for op, ok in zip(batch, results, strict=True)
                    if ok and op.event is not None
                ]
                if events:
                    now = self.clock.now()
                    await tx.execute(
                        insert(Event),
                        [
                            {
                                "id": new_id("evt"),
                                "tenant_id": tenant,
                                "session_id": session,
                                "type": kind,
                                "data": data,
                                "created_at": now,
                            }
                            for tenant, session, kind, data in events
                        ],
                    )
        except Exception as exc:
            log.error("status batch failed; callers will retry", error=repr(exc), ops=len(batch))
            for op in batch:
                if not op.done.done():
                    op.done.set_exception(exc)
            return
        self.batches += 1
        self.ops += len(batch)
        for op, ok in zip(batch, results, strict=True):
            if not op.done.done():
                op.done.set_result(ok)
        self.on_committed()


async def _apply_one(tx: AsyncSession, op: Op) -> bool:
    statement = update(Message).where(Message.seq == bindparam("b_seq"))
    if op.only_if_open:
        statement = statement.where(Message.status.in_(OPEN))
    values = dict(op.values)
    if op.add_attempt:
        values["attempts"] = Message.attempts + 1
    result = await tx.execute(
        statement.values(**values).execution_options(synchronize_session=False),
        {"b_seq": op.seq},
    )
    return bool(getattr(result, "rowcount", 1))


def failure(message: Message, code: str, text: str, now: Any) -> Op:
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
