"""Set-based reads and writes for accepting a batch of outbound messages.

Each function answers for a whole batch in one statement (or one per chat),
so accepting a hundred messages costs a handful of statements instead of a
transaction each. The decisions (which refusal, which replay) are the
outbox's; this module only asks the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection

from wagate.domain import MessageStatus
from wagate.store.models import OUTBOUND_TEXT, Contact, IdempotencyKey, Message
from wagate.store.repositories.messages import MESSAGES
from wagate.store.statements import insert_for

KEYS: Table = IdempotencyKey.__table__  # type: ignore[assignment]

SessionKey = tuple[str, str]  # (session id, a key, a lid, a phone or a reference)


@dataclass(frozen=True, slots=True)
class KeyRow:
    request_hash: str
    message_id: str | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class OptedOut:
    phone: str | None
    lid: str | None
    opted_out_at: datetime


@dataclass(frozen=True, slots=True)
class EarlierText:
    message_id: str
    created_at: datetime


def _is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def idempotency_keys(conn: Connection, keys: Collection[SessionKey]) -> dict[SessionKey, KeyRow]:
    if not keys:
        return {}
    c = KEYS.c
    query = select(
        c.session_id, c.key, c.request_hash, c.message_id, c.created_at, c.expires_at
    ).where(tuple_(c.session_id, c.key).in_(list(keys)))
    return {
        (session_id, key): KeyRow(request_hash, message_id, created_at, expires_at)
        for session_id, key, request_hash, message_id, created_at, expires_at in conn.execute(query)
    }


def messages_by_id(conn: Connection, ids: Collection[str]) -> dict[str, Message]:
    if not ids:
        return {}
    rows = conn.execute(select(MESSAGES).where(MESSAGES.c.id.in_(list(ids))))
    return {row.id: Message(**row._mapping) for row in rows}


def phones_for_lids(conn: Connection, lids: Collection[SessionKey]) -> dict[SessionKey, str]:
    """The phone number each (session, lid) is known by, where one is known."""
    if not lids:
        return {}
    query = select(Contact.session_id, Contact.lid, Contact.phone).where(
        tuple_(Contact.session_id, Contact.lid).in_(list(lids)), Contact.phone.is_not(None)
    )
    return {(s, lid): phone for s, lid, phone in conn.execute(query) if lid and phone}


def opted_out(
    conn: Connection, phones: Collection[SessionKey], lids: Collection[SessionKey]
) -> dict[str, list[OptedOut]]:
    """Contacts who opted out, by session, among those known by these phones or lids."""
    conditions = []
    if phones:
        conditions.append(tuple_(Contact.session_id, Contact.phone).in_(list(phones)))
    if lids:
        conditions.append(tuple_(Contact.session_id, Contact.lid).in_(list(lids)))
    if not conditions:
        return {}
    query = select(Contact.session_id, Contact.phone, Contact.lid, Contact.opted_out_at).where(
        Contact.opted_out_at.is_not(None), or_(*conditions)
    )
    found: dict[str, list[OptedOut]] = {}
    for session_id, phone, lid, at in conn.execute(query):
        if at is not None:
            found.setdefault(session_id, []).append(OptedOut(phone, lid, at))
    return found


def references(conn: Connection, refs: Collection[SessionKey]) -> dict[SessionKey, str | None]:
    """For each (session, reference), the WhatsApp id of the message it names, if it names one.

    A reference is a wagate message id or a WhatsApp message id; a message found
    without a WhatsApp id (not sent yet, on a transport that cannot choose ids)
    maps to None.
    """
    if not refs:
        return {}
    pairs = list(refs)
    c = MESSAGES.c
    query = select(c.session_id, c.id, c.wa_message_id).where(
        or_(
            tuple_(c.session_id, c.id).in_(pairs),
            tuple_(c.session_id, c.wa_message_id).in_(pairs),
        )
    )
    found: dict[SessionKey, str | None] = {}
    for session_id, message_id, wa_message_id in conn.execute(query):
        for ref in (message_id, wa_message_id):
            if ref is not None and (session_id, ref) in refs:
                found.setdefault((session_id, ref), wa_message_id)
    return found


def lock_chats(conn: Connection, chats: Iterable[SessionKey]) -> None:
    """Serialize acceptance per chat until the transaction ends (PostgreSQL; SQLite has one writer).

    Locks are taken in one statement, in a fixed order, so two workers'
    batches cannot deadlock on them.
    """
    if not _is_postgres(conn):
        return
    ids = sorted(
        {
            int.from_bytes(
                hashlib.sha256(f"{session_id}\x00{chat_id}".encode()).digest()[:8],
                "big",
                signed=True,
            )
            for session_id, chat_id in chats
        }
    )
    if ids:
        conn.execute(
            text("SELECT pg_advisory_xact_lock(id) FROM unnest(CAST(:ids AS bigint[])) AS id"),
            {"ids": ids},
        )


def _recent_texts_statement() -> Any:
    c = MESSAGES.c
    return select(c.chat_id, c.text, c.id, c.created_at).where(
        c.session_id == bindparam("session_id"),
        c.chat_id.in_(bindparam("chats", expanding=True)),
        OUTBOUND_TEXT,  # literally, so the partial index applies
        c.created_at >= bindparam("since", type_=c.created_at.type),
        c.text.in_(bindparam("texts", expanding=True)),
        c.status != MessageStatus.FAILED.value,
    )  # no ORDER BY: SQLite would walk the session's messages by seq instead of the index


_RECENT_TEXTS = _recent_texts_statement()  # built once: building costs more than running it


def recent_texts(
    conn: Connection, chats: Collection[SessionKey], texts: Collection[str], since: datetime
) -> dict[SessionKey, dict[str, EarlierText]]:
    """Per chat, the latest outbound text message with each of ``texts`` created since ``since``.

    One statement per session of the batch (usually one), a range of the
    partial index ``ix_messages_outbound_text_recent`` per chat. Failed
    messages do not count: they never reached the recipient.
    """
    by_session: dict[str, list[str]] = {}
    for session_id, chat_id in chats:
        by_session.setdefault(session_id, []).append(chat_id)
    found: dict[SessionKey, dict[str, EarlierText]] = {}
    for session_id, chat_ids in by_session.items():
        params = {"session_id": session_id, "chats": chat_ids, "texts": list(texts), "since": since}
        for chat_id, value, message_id, at in conn.execute(_RECENT_TEXTS, params):
            seen = found.setdefault((session_id, chat_id), {})
            if value not in seen or seen[value].created_at < at:
                seen[value] = EarlierText(message_id, at)
    return found


def take_over_key(
    conn: Connection,
    session_id: str,
    key: str,
    *,
    request_hash: str,
    message_id: str,
    now: datetime,
    expires_at: datetime,
    stale_before: datetime,
    previous_message_id: str | None,
) -> bool:
    """Make an expired key, or a claim whose request died, ours; False if another was first."""
    c = KEYS.c
    statement = (
        update(KEYS)
        .where(
            c.session_id == session_id,
            c.key == key,
            or_(
                c.expires_at <= now,
                and_(c.message_id.is_(None), c.created_at <= stale_before),
            ),
        )
        .values(
            request_hash=request_hash, message_id=message_id, created_at=now, expires_at=expires_at
        )
        .returning(c.key)
    )
    if (conn.execute(statement)).scalar_one_or_none() is None:
        return False
    if previous_message_id is not None:  # the old message stops holding the key
        conn.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id == previous_message_id)
            .values(idempotency_key=None)
        )
    return True


def insert_keys(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[SessionKey]:
    """Insert completed keys (``message_id`` set); returns those inserted (not taken meanwhile)."""
    if not rows:
        return set()
    statement = (
        insert_for(conn.dialect.name)(KEYS)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["session_id", "key"])
        .returning(KEYS.c.session_id, KEYS.c.key)
    )
    return {(session_id, key) for session_id, key in conn.execute(statement)}


def insert_messages(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """One ``executemany`` for the whole batch (every row has every column)."""
    if rows:
        conn.execute(insert(MESSAGES), list(rows))
