"""The append-only event log and the dead-letter table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import new_id
from wagate.store.models import DeadLetter, Event


async def append_event(
    db: AsyncSession,
    *,
    tenant_id: str,
    session_id: str | None,
    type: str,
    data: dict[str, Any],
    now: datetime,
) -> Event:
    """Add an event in the caller's transaction, so it commits with the change it announces."""
    event = Event(
        id=new_id("evt"),
        tenant_id=tenant_id,
        session_id=session_id,
        type=type,
        data=data,
        created_at=now,
    )
    db.add(event)
    await db.flush()
    return event


EVENTS: Table = Event.__table__  # type: ignore[assignment]
EventRow = tuple[str, str | None, str, dict[str, Any]]
"""An event to append: (tenant id, session id, type, data)."""


def append_events(
    conn: Connection,
    events: Sequence[EventRow],
    now: datetime,
) -> None:
    """Add (tenant, session, type, data) events in one ``executemany``, in the caller's
    transaction (so they commit with the changes they announce)."""
    if not events:
        return
    conn.execute(
        insert(EVENTS),
        [
            {
                "id": new_id("evt"),
                "tenant_id": tenant_id,
                "session_id": session_id,
                "type": kind,
                "data": data,
                "created_at": now,
            }
            for tenant_id, session_id, kind, data in events
        ],
    )


async def list_events(
    db: AsyncSession,
    *,
    tenant_id: str | None,
    after: int = 0,
    limit: int = 100,
    session_id: str | None = None,
    types: list[str] | None = None,
    upto: int | None = None,
) -> list[Event]:
    """Events oldest first with ``after < seq`` (and ``seq <= upto``: the log's horizon)."""
    query = select(Event).where(Event.seq > after).order_by(Event.seq).limit(limit)
    if upto is not None:
        query = query.where(Event.seq <= upto)
    if tenant_id is not None:
        query = query.where(Event.tenant_id == tenant_id)
    if session_id is not None:
        query = query.where(Event.session_id == session_id)
    if types:
        query = query.where(Event.type.in_(types))
    return list(await db.scalars(query))


async def add_dead_letter(
    db: AsyncSession,
    *,
    source: str,
    reason: str,
    payload: dict[str, Any],
    session_id: str | None,
    now: datetime,
) -> DeadLetter:
    row = DeadLetter(
        source=source, reason=reason, payload=payload, session_id=session_id, created_at=now
    )
    db.add(row)
    await db.flush()
    return row


async def list_dead_letters(db: AsyncSession, limit: int = 100) -> list[DeadLetter]:
    return list(await db.scalars(select(DeadLetter).order_by(DeadLetter.seq.desc()).limit(limit)))


async def seqs_after(db: AsyncSession, after: int, limit: int) -> list[int]:
    """The seqs committed after ``after``, in order (the horizon looks for gaps in them)."""
    query = select(Event.seq).where(Event.seq > after).order_by(Event.seq).limit(limit)
    return list(await db.scalars(query))
