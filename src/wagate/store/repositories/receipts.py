"""Receipts that arrived before the WhatsApp id of their message was committed.

See :class:`~wagate.store.models.UnmatchedReceipt` for why they exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import Direction
from wagate.store.models import Message, UnmatchedReceipt

UNMATCHED: Table = UnmatchedReceipt.__table__  # type: ignore[assignment]


def unknown_ids(conn: Connection, session_id: str, wa_message_ids: Sequence[str]) -> set[str]:
    """Those of ``wa_message_ids`` that no outbound message of the session carries."""
    if not wa_message_ids:
        return set()
    query = select(Message.wa_message_id).where(
        Message.session_id == session_id,
        Message.direction == Direction.OUT.value,
        Message.wa_message_id.in_(list(wa_message_ids)),
    )
    known = set(conn.execute(query).scalars())
    return set(wa_message_ids) - known


def park(
    conn: Connection,
    *,
    tenant_id: str,
    session_id: str,
    wa_message_ids: Sequence[str],
    chat_id: str,
    status: str,
    at: datetime,
    error_code: str | None,
    error_message: str | None,
    now: datetime,
) -> None:
    conn.execute(
        insert(UNMATCHED),
        [
            {
                "tenant_id": tenant_id,
                "session_id": session_id,
                "wa_message_id": wa_id,
                "chat_id": chat_id,
                "status": status,
                "at": at,
                "error_code": error_code,
                "error_message": error_message,
                "created_at": now,
            }
            for wa_id in wa_message_ids
        ],
    )


async def matched(db: AsyncSession, *, limit: int = 500) -> list[UnmatchedReceipt]:
    """Waiting receipts whose message now has their WhatsApp id, oldest first."""
    query = (
        select(UnmatchedReceipt)
        .join(
            Message,
            (Message.session_id == UnmatchedReceipt.session_id)
            & (Message.wa_message_id == UnmatchedReceipt.wa_message_id)
            & (Message.direction == Direction.OUT.value),
        )
        .order_by(UnmatchedReceipt.seq)
        .limit(limit)
    )
    return list(await db.scalars(query))


async def forget(
    db: AsyncSession, seqs: Sequence[int], *, older_than: datetime | None = None
) -> int:
    """Delete the given receipts, and (with ``older_than``) every one that waited too long."""
    removed = 0
    if seqs:
        result = await db.execute(delete(UnmatchedReceipt).where(UnmatchedReceipt.seq.in_(seqs)))
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult
    if older_than is not None:
        result = await db.execute(
            delete(UnmatchedReceipt).where(UnmatchedReceipt.created_at < older_than)
        )
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult
    return removed
