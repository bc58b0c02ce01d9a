"""The engine's work rows: the batching buffer, batches with leases, steps, the log cursor."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import new_id
from wagate.store.models import Event
from wagate.store.models_engine import (
    Conversation,
    EngineBatch,
    EngineCursor,
    EngineInbox,
    EngineStep,
)
from wagate.store.statements import update_by_key

DROPPED = "dropped"  # batch_id of buffered messages a human answered instead


def _is_pg(db: AsyncSession) -> bool:
    return db.get_bind().dialect.name == "postgresql"


# ---------------------------------------------------------------------- the buffer


async def buffer_message(
    db: AsyncSession, *, session_id: str, chat_id: str, message_id: str, now: datetime
) -> bool:
    """Put an inbound message in its chat's buffer once; False if it was there already."""
    insert = pg_insert if _is_pg(db) else sqlite_insert
    result = await db.execute(
        insert(EngineInbox)
        .values(session_id=session_id, chat_id=chat_id, message_id=message_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(EngineInbox.seq)
    )
    return result.scalar_one_or_none() is not None


async def drop_buffer(db: AsyncSession, session_id: str, chat_id: str) -> int:
    result = await db.execute(
        update(EngineInbox)
        .where(
            EngineInbox.session_id == session_id,
            EngineInbox.chat_id == chat_id,
            EngineInbox.batch_id.is_(None),
        )
        .values(batch_id=DROPPED)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult has rowcount


async def take_buffer(
    db: AsyncSession, *, tenant_id: str, session_id: str, chat_id: str, now: datetime
) -> EngineBatch | None:
    """Move the chat's buffered messages into a new ``ready`` batch (None if none were left).

    The conditional UPDATE decides: two flushes of one chat cannot take the
    same messages, because the second finds ``batch_id`` already set.
    """
    batch_id = new_id("bat")
    result = await db.execute(
        update(EngineInbox)
        .where(
            EngineInbox.session_id == session_id,
            EngineInbox.chat_id == chat_id,
            EngineInbox.batch_id.is_(None),
        )
        .values(batch_id=batch_id)
        .returning(EngineInbox.seq, EngineInbox.message_id)
        .execution_options(synchronize_session=False)
    )
    taken = sorted(result.all())
    if not taken:
        return None
    batch = EngineBatch(
        id=batch_id,
        tenant_id=tenant_id,
        session_id=session_id,
        chat_id=chat_id,
        status="ready",
        message_ids=[message_id for _, message_id in taken],
        reply=None,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    db.add(batch)
    await db.flush()
    return batch


# ---------------------------------------------------------------------- batches


async def claim_batches(
    db: AsyncSession, *, owner: str, now: datetime, ttl_s: float, limit: int
) -> list[EngineBatch]:
    """Take up to ``limit`` batches nobody works on (or whose worker's lease lapsed)."""
    candidates = (
        select(EngineBatch.id)
        .where(
            or_(
                EngineBatch.status == "ready",
                (EngineBatch.status == "running") & (EngineBatch.lease_expires_at < now),
            )
        )
        .order_by(EngineBatch.created_at, EngineBatch.id)
        .limit(limit)
    )
    if _is_pg(db):
        candidates = candidates.with_for_update(skip_locked=True)
    result = await db.execute(
        update(EngineBatch)
        .where(EngineBatch.id.in_(candidates.scalar_subquery()))
        .values(
            status="running",
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=ttl_s),
            attempts=EngineBatch.attempts + 1,
            updated_at=now,
        )
        .returning(EngineBatch.id)
        .execution_options(synchronize_session=False)
    )
    ids = [row[0] for row in result.all()]
    if not ids:
        return []
    query = (
        select(EngineBatch)
        .where(EngineBatch.id.in_(ids))
        .execution_options(populate_existing=True)
        .order_by(EngineBatch.created_at)
    )
    return list(await db.scalars(query))


async def release_own_batches(db: AsyncSession, owner: str, now: datetime) -> int:
    """At start: batches this worker id held before a restart are free again at once."""
    result = await db.execute(
        update(EngineBatch)
        .where(EngineBatch.status == "running", EngineBatch.lease_owner == owner)
        .values(status="ready", lease_owner=None, lease_expires_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult has rowcount


ENGINE_BATCHES: Table = EngineBatch.__table__  # type: ignore[assignment]  # a Table
ENGINE_STEPS: Table = EngineStep.__table__  # type: ignore[assignment]
CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]


def change_held_batches(
    conn: Connection, changes: list[tuple[str, str, dict[str, Any]]]
) -> list[bool]:
    """Apply (batch id, owner, columns to set) to the batches their owner still holds (the
    lease fences late writers); for each change, whether it applied.

    One locking read and one ``executemany`` per shape of change, whatever their number.
    Synchronous: part of a write batch (:mod:`wagate.store.batch`)."""
    if not changes:
        return []
    table = ENGINE_BATCHES
    query = select(table.c.id, table.c.lease_owner).where(
        table.c.id.in_({batch_id for batch_id, _, _ in changes}), table.c.status == "running"
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    holders = {row[0]: row[1] for row in conn.execute(query)}
    held = [holders.get(batch_id) == owner for batch_id, owner, _ in changes]
    update_by_key(
        conn,
        table,
        "id",
        [
            (batch_id, values, {})
            for (batch_id, _, values), ok in zip(changes, held, strict=True)
            if ok
        ],
    )
    return held


def chats_in_state(
    conn: Connection, chats: Collection[tuple[str, str]], state: str
) -> set[tuple[str, str]]:
    """Which of these (session id, chat id) conversations are in ``state`` now; on PostgreSQL
    their rows stay locked against changes (a pause) until the transaction ends."""
    if not chats:
        return set()
    table = CONVERSATIONS
    query = select(table.c.session_id, table.c.chat_id).where(
        table.c.session_id.in_({session_id for session_id, _ in chats}),
        table.c.chat_id.in_({chat_id for _, chat_id in chats}),
        table.c.state == state,
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    return {(row[0], row[1]) for row in conn.execute(query)} & set(chats)


def insert_steps(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Timeline steps (every column but ``seq``), in order, in one ``executemany``."""
    if rows:
        conn.execute(insert(ENGINE_STEPS), rows)


async def count_batches(db: AsyncSession, status: str) -> int:
    return int(await db.scalar(select(func.count()).where(EngineBatch.status == status)) or 0)


# ---------------------------------------------------------------------- steps


async def add_step(
    db: AsyncSession,
    *,
    tenant_id: str,
    session_id: str,
    chat_id: str,
    kind: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    db.add(
        EngineStep(
            tenant_id=tenant_id,
            session_id=session_id,
            chat_id=chat_id,
            kind=kind,
            data=data,
            created_at=now,
        )
    )  # inserted with the transaction's other changes, in the order added


async def list_steps(
    db: AsyncSession, session_id: str, chat_id: str, limit: int
) -> list[EngineStep]:
    query = (
        select(EngineStep)
        .where(EngineStep.session_id == session_id, EngineStep.chat_id == chat_id)
        .order_by(EngineStep.seq.desc())
        .limit(limit)
    )
    return list(await db.scalars(query))


# ---------------------------------------------------------------------- the log cursor


async def hold_cursor(
    db: AsyncSession, *, name: str, owner: str, now: datetime, ttl_s: float
) -> EngineCursor | None:
    """Take or renew the lease on a log cursor; the cursor when we hold it, else None.

    A new cursor starts at the end of the log: the engine answers what arrives
    after it was first started, not the history before.
    """
    if await db.get(EngineCursor, name) is None:
        last = await db.scalar(select(func.max(Event.seq)))
        insert = pg_insert if _is_pg(db) else sqlite_insert
        await db.execute(
            insert(EngineCursor)
            .values(name=name, cursor_seq=last or 0, updated_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
    result = await db.execute(
        update(EngineCursor)
        .where(
            EngineCursor.name == name,
            or_(
                EngineCursor.lease_owner == owner,
                EngineCursor.lease_owner.is_(None),
                EngineCursor.lease_expires_at < now,
            ),
        )
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=ttl_s))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult has rowcount
        return None
    query = (
        select(EngineCursor)
        .where(EngineCursor.name == name)
        .execution_options(populate_existing=True)
    )
    return (await db.scalars(query)).first()


async def move_cursor(
    db: AsyncSession, *, name: str, owner: str, old: int, new: int, now: datetime
) -> bool:
    """Advance the cursor in the transaction that applies the events (fenced by the lease)."""
    result = await db.execute(
        update(EngineCursor)
        .where(
            EngineCursor.name == name,
            EngineCursor.lease_owner == owner,
            EngineCursor.cursor_seq == old,
        )
        .values(cursor_seq=new, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]  # CursorResult


async def release_cursor(db: AsyncSession, name: str, owner: str) -> None:
    await db.execute(
        update(EngineCursor)
        .where(EngineCursor.name == name, EngineCursor.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
