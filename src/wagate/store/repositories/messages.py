"""Messages in both directions: the outbound queue, inbound dedupe, receipts, the list."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, bindparam, func, not_, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import (
    Direction,
    InboundMessage,
    MessageStatus,
    NotFound,
    statuses_before,
)
from wagate.store.models import Message
from wagate.store.statements import update_by_key

OPEN_OUTBOUND = (MessageStatus.QUEUED.value, MessageStatus.SENDING.value)
MESSAGES: Table = Message.__table__  # type: ignore[assignment]  # Core for the hot paths


async def add_outbound(db: AsyncSession, message: Message) -> Message:
    db.add(message)
    await db.flush()
    return message


def message_row(**values: Any) -> dict[str, Any]:
    """Every column of a ``messages`` row (for one ``executemany``): ``values``, the rest empty."""
    unknown = values.keys() - _EMPTY_ROW.keys()
    if unknown:
        raise TypeError(f"not columns of messages: {sorted(unknown)}")
    return {**_EMPTY_ROW, **values}


_EMPTY_ROW: dict[str, Any] = {
    **{column.name: None for column in MESSAGES.columns if column.name != "seq"},
    "attempts": 0,
}


def inbound_row(
    *,
    message_id: str,
    tenant_id: str,
    session_id: str,
    inbound: InboundMessage,
    media: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """Every column of an inbound message's row."""
    return message_row(
        id=message_id,
        tenant_id=tenant_id,
        session_id=session_id,
        direction=Direction.IN.value,
        wa_message_id=inbound.wa_message_id,
        chat_id=inbound.chat_id,
        chat_type=inbound.chat_type.value,
        sender=inbound.sender,
        sender_phone=inbound.sender_phone,
        sender_lid=inbound.sender_lid,
        push_name=inbound.push_name,
        from_me=inbound.from_me,
        type=inbound.type.value,
        text=inbound.text,
        media=media,
        location=inbound.location.model_dump() if inbound.location else None,
        contacts=[c.model_dump() for c in inbound.contacts] if inbound.contacts else None,
        reaction=inbound.reaction.model_dump() if inbound.reaction else None,
        reply_to=inbound.reply_to,
        timestamp=inbound.timestamp,
        status=MessageStatus.RECEIVED.value,
        created_at=now,
        updated_at=now,
    )


def strip_nul(value: Any) -> Any:
    """Drop U+0000 from strings at any depth: PostgreSQL text and JSONB cannot hold it.

    The API refuses it at the edge; this is for what other engines deliver.
    """
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {k: strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_nul(v) for v in value]
    return value


async def get_message(db: AsyncSession, message_id: str, tenant_id: str | None) -> Message:
    query = select(Message).where(Message.id == message_id)
    if tenant_id is not None:
        query = query.where(Message.tenant_id == tenant_id)
    message = (await db.scalars(query)).first()
    if message is None:
        raise NotFound(f"message {message_id!r} not found")
    return message


async def find_by_wa_id(db: AsyncSession, session_id: str, wa_message_id: str) -> Message | None:
    query = select(Message).where(
        Message.session_id == session_id, Message.wa_message_id == wa_message_id
    )
    return (await db.scalars(query)).first()


async def idempotency_key_of(db: AsyncSession, message_id: str) -> str | None:
    """The key a message was accepted with (None: none, or no such message)."""
    query = select(Message.idempotency_key).where(Message.id == message_id)
    return (await db.scalars(query)).first()


async def set_transcript(db: AsyncSession, message_id: str, text: str, now: datetime) -> None:
    await db.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(transcript=text, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def by_idempotency_key(db: AsyncSession, session_id: str, key: str) -> Message | None:
    query = select(Message).where(Message.session_id == session_id, Message.idempotency_key == key)
    return (await db.scalars(query)).first()


async def resolve_reference(db: AsyncSession, session_id: str, ref: str) -> Message | None:
    """A message named by wagate id or WhatsApp id, within one session."""
    query = select(Message).where(
        Message.session_id == session_id,
        (Message.id == ref) | (Message.wa_message_id == ref),
    )
    return (await db.scalars(query)).first()


async def by_ids(db: AsyncSession, message_ids: Sequence[str]) -> list[Message]:
    """These messages, in the order they were stored."""
    if not message_ids:
        return []
    query = select(Message).where(Message.id.in_(message_ids)).order_by(Message.seq)
    return list(await db.scalars(query))


async def chat_before(
    db: AsyncSession, session_id: str, chat_id: str, before_seq: int | None, limit: int
) -> list[Message]:
    """The chat's last ``limit`` messages (before ``before_seq`` when given) that did not
    fail, newest first."""
    query = select(Message).where(
        Message.session_id == session_id, Message.chat_id == chat_id, Message.status != "failed"
    )
    if before_seq is not None:
        query = query.where(Message.seq < before_seq)
    return list(await db.scalars(query.order_by(Message.seq.desc()).limit(limit)))


async def latest_in_chat(
    db: AsyncSession, session_id: str, chat_id: str, limit: int
) -> list[Message]:
    """The chat's last ``limit`` messages, failed ones included, newest first."""
    query = (
        select(Message)
        .where(Message.session_id == session_id, Message.chat_id == chat_id)
        .order_by(Message.seq.desc())
        .limit(limit)
    )
    return list(await db.scalars(query))


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """What ``GET /v1/sessions/{id}/messages`` narrows a session's messages to."""

    chat_id: str | None = None
    direction: Direction | None = None
    types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    text: str | None = None  # part of the text or caption, any case
    from_me: bool | None = None  # sent by the session (from wagate or typed on the phone)
    wa_message_id: str | None = None


def _narrowed(query: Select[Any], session_id: str, where: MessageFilter) -> Select[Any]:
    query = query.where(Message.session_id == session_id)
    if where.chat_id is not None:
        query = query.where(Message.chat_id == where.chat_id)
    if where.direction is not None:
        query = query.where(Message.direction == where.direction.value)
    if where.types:
        query = query.where(Message.type.in_(where.types))
    if where.statuses:
        query = query.where(Message.status.in_(where.statuses))
    if where.since is not None:
        query = query.where(Message.created_at >= where.since)
    if where.until is not None:
        query = query.where(Message.created_at < where.until)
    if where.text:
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", where.text.lower()) + "%"
        query = query.where(func.lower(Message.text).like(pattern, escape="\\"))
    if where.from_me is not None:
        mine = or_(Message.from_me.is_(True), Message.direction == Direction.OUT.value)
        query = query.where(mine if where.from_me else not_(mine))
    if where.wa_message_id is not None:
        query = query.where(Message.wa_message_id == where.wa_message_id)
    return query


async def page_of_messages(
    db: AsyncSession, session_id: str, where: MessageFilter, *, page: int, size: int
) -> tuple[list[Message], int]:
    """Numbered pages, newest first (for clients that page so, as Evolution's do): the
    page's rows and how many match in all."""
    total = await db.scalar(_narrowed(select(func.count()).select_from(Message), session_id, where))
    query = _narrowed(select(Message), session_id, where).order_by(Message.seq.desc())
    rows = await db.scalars(query.offset((page - 1) * size).limit(size))
    return list(rows), int(total or 0)


async def list_messages(
    db: AsyncSession,
    *,
    session_id: str,
    chat_id: str | None = None,
    direction: Direction | None = None,
    limit: int = 50,
    before_seq: int | None = None,
    where: MessageFilter | None = None,
) -> tuple[list[Message], int | None]:
    """Newest first. Returns the page and the cursor of the next (older) page, if any."""
    where = where or MessageFilter(chat_id=chat_id, direction=direction)
    query: Select[Message] = _narrowed(select(Message), session_id, where)
    if before_seq is not None:
        query = query.where(Message.seq < before_seq)
    rows = list(await db.scalars(query.order_by(Message.seq.desc()).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].seq
    return rows, None


async def open_outbound(
    db: AsyncSession, session_id: str, limit: int, *, after_seq: int | None = None
) -> list[Message]:
    """Queued or interrupted outbound messages of a session, in the order they were accepted.

    With ``after_seq``, only those accepted after it (a sender's incremental read).
    """
    query = select(Message).where(
        Message.session_id == session_id, Message.status.in_(OPEN_OUTBOUND)
    )
    if after_seq is not None:
        query = query.where(Message.seq > after_seq)
    return list(await db.scalars(query.order_by(Message.seq).limit(limit)))


async def sessions_with_open_outbound(db: AsyncSession) -> list[str]:
    query = select(Message.session_id).where(Message.status.in_(OPEN_OUTBOUND)).distinct()
    return list(await db.scalars(query))


async def set_status(
    db: AsyncSession, message: Message, status: MessageStatus, now: datetime, **fields: Any
) -> None:
    message.status = status.value
    message.updated_at = now
    for name, value in fields.items():
        setattr(message, name, value)
    await db.flush()


_RECEIPT_TIME_COLUMN = {
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
}


RECEIPT_COLUMNS = ("seq", "id", "wa_message_id", "chat_id", "status", "type")


@functools.cache
def _receipt_statement(status: MessageStatus) -> Any:
    """The guarded ``UPDATE ... RETURNING`` of a receipt: built once per status."""
    c = MESSAGES.c
    at = bindparam("b_at", type_=c.updated_at.type)
    values: dict[str, Any] = {
        "status": status.value,
        "updated_at": bindparam("b_now", type_=c.updated_at.type),
    }
    allowed = [s.value for s in statuses_before(status)]
    if status is MessageStatus.FAILED:
        allowed.append(MessageStatus.SENT.value)
        values["error_code"] = bindparam("b_error_code")
        values["error_message"] = bindparam("b_error_message")
    column = _RECEIPT_TIME_COLUMN.get(status)
    if column:
        values[column] = at
    if status in (MessageStatus.READ, MessageStatus.PLAYED):
        values["delivered_at"] = func.coalesce(c.delivered_at, at)
    if status is MessageStatus.PLAYED:
        values["read_at"] = func.coalesce(c.read_at, at)
    return (
        update(MESSAGES)
        .where(
            c.session_id == bindparam("b_session_id"),
            c.wa_message_id.in_(bindparam("b_wa_ids", expanding=True)),
            c.direction == Direction.OUT.value,
            c.status.in_(allowed),
        )
        .values(**values)
        .returning(*(c[name] for name in RECEIPT_COLUMNS), c.error_code, c.error_message)
    )


def apply_receipt(
    conn: Connection,
    *,
    session_id: str,
    wa_message_ids: Sequence[str],
    status: MessageStatus,
    at: datetime,
    now: datetime,
    error_code: str | None = None,
    error_message: str | None = None,
) -> list[dict[str, Any]]:
    """Move outbound messages forward to ``status``; never backwards. Returns those moved
    (their :data:`RECEIPT_COLUMNS` and error), in ``seq`` order.

    A ``failed`` receipt (the Cloud API reports failures after accepting a send)
    may also fail a message that was only ``sent``, and records its error.
    """
    params: dict[str, Any] = {
        "b_session_id": session_id,
        "b_wa_ids": list(wa_message_ids),
        "b_now": now,
        "b_at": at,
    }
    if status is MessageStatus.FAILED:
        params["b_error_code"] = error_code or "send_failed"
        params["b_error_message"] = error_message or ""
    moved = [dict(row._mapping) for row in conn.execute(_receipt_statement(status), params)]
    return sorted(moved, key=lambda row: int(row["seq"]))


async def count_by_status(db: AsyncSession) -> list[tuple[str, str, str, int]]:
    query = select(Message.direction, Message.type, Message.status, func.count()).group_by(
        Message.direction, Message.type, Message.status
    )
    return [(d, t, s, n) for d, t, s, n in await db.execute(query)]


async def activity_since(db: AsyncSession, session_id: str, since: datetime) -> dict[str, Any]:
    """Counts for a session's health: sent, received and failed since ``since``, last activity."""
    sent = await db.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.session_id == session_id,
            Message.direction == Direction.OUT.value,
            Message.sent_at >= since,
        )
    )
    received = await db.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.session_id == session_id,
            Message.direction == Direction.IN.value,
            Message.created_at >= since,
        )
    )
    failed = await db.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.session_id == session_id,
            Message.status == MessageStatus.FAILED.value,
            Message.updated_at >= since,
        )
    )
    last = await db.scalar(
        select(func.max(Message.updated_at)).where(Message.session_id == session_id)
    )
    return {
        "sent": int(sent or 0),
        "received": int(received or 0),
        "failed": int(failed or 0),
        "last_activity": last,
    }


def lock_open_outbound(
    conn: Connection, seqs: Collection[int], open_statuses: Sequence[str]
) -> set[int]:
    """Which of these messages are still open; locked until the commit on PostgreSQL."""
    if not seqs:
        return set()
    query = select(MESSAGES.c.seq).where(
        MESSAGES.c.seq.in_(list(seqs)), MESSAGES.c.status.in_(list(open_statuses))
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return set(conn.execute(query).scalars())


def update_many(conn: Connection, changes: Sequence[tuple[int, dict[str, Any], int]]) -> None:
    """Apply (seq, column values, attempts to add) changes: one ``executemany`` per shape."""
    update_by_key(
        conn,
        MESSAGES,
        "seq",
        (
            (seq, values, {"attempts": attempts} if attempts else {})
            for seq, values, attempts in changes
        ),
    )


async def latest_per_chat(db: AsyncSession, session_id: str, limit: int = 100) -> list[Message]:
    """The last message of each of the session's chats, most recent chat first (the
    dashboard's inbox: chats the session only wrote to are listed too)."""
    last = (
        select(func.max(Message.seq).label("seq"))
        .where(Message.session_id == session_id)
        .group_by(Message.chat_id)
        .subquery()
    )
    query = (
        select(Message)
        .join(last, last.c.seq == Message.seq)
        .order_by(Message.seq.desc())
        .limit(limit)
    )
    return list(await db.scalars(query))


async def sending_now(db: AsyncSession, session_id: str) -> bool:
    """Whether a message of the session is being handed to WhatsApp right now."""
    found = await db.scalar(
        select(Message.seq)
        .where(Message.session_id == session_id, Message.status == MessageStatus.SENDING.value)
        .limit(1)
    )
    return found is not None


async def count_open_outbound(db: AsyncSession) -> int:
    """Outbound messages of every session not yet settled (queued or being sent)."""
    count = await db.scalar(
        select(func.count()).select_from(Message).where(Message.status.in_(OPEN_OUTBOUND))
    )
    return int(count or 0)


async def unread_inbound(
    db: AsyncSession, session_id: str, chat_id: str, limit: int = 50
) -> list[Message]:
    """A chat's newest inbound messages not read yet (the contact's, not the phone's)."""
    query = (
        select(Message)
        .where(
            Message.session_id == session_id,
            Message.chat_id == chat_id,
            Message.direction == Direction.IN.value,
            Message.from_me.is_(False),
            Message.read_at.is_(None),
        )
        .order_by(Message.seq.desc())
        .limit(limit)
    )
    return list(await db.scalars(query))


async def expired_open(db: AsyncSession, now: datetime, limit: int) -> list[Message]:
    """Outbound messages still queued or sending whose time to live has passed."""
    query = (
        select(Message)
        .where(Message.status.in_(OPEN_OUTBOUND), Message.expires_at <= now)
        .limit(limit)
    )
    return list(await db.scalars(query))


async def sent_since(
    db: AsyncSession, session_id: str, chat_ids: Sequence[str], since: datetime
) -> list[tuple[str, datetime]]:
    """When each of these chats was sent to since ``since``, oldest first (guardrails)."""
    rows = await db.execute(
        select(Message.chat_id, Message.sent_at)
        .where(
            Message.session_id == session_id,
            Message.chat_id.in_(chat_ids),
            Message.direction == Direction.OUT.value,
            Message.sent_at >= since,
        )
        .order_by(Message.sent_at)
    )
    return [(chat_id, sent_at) for chat_id, sent_at in rows if sent_at is not None]


async def last_inbound_at(
    db: AsyncSession, session_id: str, chat_ids: Sequence[str]
) -> dict[str, datetime]:
    """The time of each chat's latest message from the contact (not from the phone)."""
    rows = await db.execute(
        select(Message.chat_id, func.max(Message.timestamp))
        .where(
            Message.session_id == session_id,
            Message.chat_id.in_(chat_ids),
            Message.direction == Direction.IN.value,
            Message.from_me.is_(False),
        )
        .group_by(Message.chat_id)
    )
    return {chat_id: at for chat_id, at in rows if at is not None}


async def proactive_sent_since(db: AsyncSession, session_id: str, since: datetime) -> int:
    """Proactive messages (no inbound from the chat in 24 h) sent since ``since``."""
    count = await db.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.session_id == session_id,
            Message.proactive.is_(True),
            Message.sent_at >= since,
        )
    )
    return int(count or 0)
