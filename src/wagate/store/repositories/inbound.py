"""Set-based writes for storing a batch of inbound messages and what they teach about contacts.

Synchronous Core on the batch writer's connection (:mod:`wagate.store.batch`):
each function answers for a whole batch in a statement or two.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Table, delete, insert, or_, select, tuple_
from sqlalchemy.engine import Connection

from wagate.store.models import Contact
from wagate.store.repositories.messages import MESSAGES
from wagate.store.statements import insert_for, update_by_key

CONTACTS: Table = Contact.__table__  # type: ignore[assignment]
CONTACT_COLUMNS = tuple(column.name for column in CONTACTS.columns)


def store_messages(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
    """Insert inbound messages once each; returns the (session, WhatsApp id) pairs stored now.

    The unique (session, wa_message_id) constraint decides, so a redelivered
    event, the same message twice in one batch or two workers can never store
    it twice.
    """
    if not rows:
        return set()
    statement = (
        insert_for(conn.dialect.name)(MESSAGES)
        .on_conflict_do_nothing(index_elements=["session_id", "wa_message_id"])
        .returning(MESSAGES.c.session_id, MESSAGES.c.wa_message_id)
    )
    return {(s, w) for s, w in conn.execute(statement, list(rows))}


def contacts_known_by(
    conn: Connection, phones: Collection[tuple[str, str]], lids: Collection[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Every contact known by one of these (session, phone) or (session, lid) pairs."""
    conditions = []
    if phones:
        conditions.append(tuple_(CONTACTS.c.session_id, CONTACTS.c.phone).in_(list(phones)))
    if lids:
        conditions.append(tuple_(CONTACTS.c.session_id, CONTACTS.c.lid).in_(list(lids)))
    if not conditions:
        return []
    return [dict(row._mapping) for row in conn.execute(select(CONTACTS).where(or_(*conditions)))]


def save_contacts(
    conn: Connection,
    inserted: Sequence[dict[str, Any]],
    updated: Sequence[dict[str, Any]],
    deleted: Collection[str],
) -> None:
    """Write contacts as the batch left them: merged-away rows first, then new and changed."""
    if deleted:
        conn.execute(delete(CONTACTS).where(CONTACTS.c.id.in_(list(deleted))))
    columns = [c for c in CONTACT_COLUMNS if c != "id"]
    update_by_key(
        conn, CONTACTS, "id", ((row["id"], {c: row[c] for c in columns}, {}) for row in updated)
    )
    if inserted:
        conn.execute(insert(CONTACTS), [{c: row[c] for c in CONTACT_COLUMNS} for row in inserted])
