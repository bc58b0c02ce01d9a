"""Engine settings per session and chat state per conversation (the engine's tables)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.store.models_engine import Assistant, Conversation, EngineBatch

IN_FLIGHT = ("ready", "running")


def _is_pg(db: AsyncSession) -> bool:
    return db.get_bind().dialect.name == "postgresql"


async def get_assistant(db: AsyncSession, session_id: str) -> Assistant | None:
    return await db.get(Assistant, session_id)


async def assistants_for(db: AsyncSession, session_ids: set[str]) -> dict[str, Assistant]:
    if not session_ids:
        return {}
    rows = await db.scalars(select(Assistant).where(Assistant.session_id.in_(session_ids)))
    return {row.session_id: row for row in rows}


async def put_assistant(
    db: AsyncSession,
    *,
    session_id: str,
    tenant_id: str,
    enabled: bool,
    config: dict[str, Any],
    now: datetime,
) -> Assistant:
    row = await db.get(Assistant, session_id)
    if row is None:
        row = Assistant(
            session_id=session_id,
            tenant_id=tenant_id,
            enabled=enabled,
            config=config,
            created_at=now,
            updated_at=now,
        )
        db.add(row)
    else:
        row.enabled = enabled
        row.config = config
        row.updated_at = now
    await db.flush()
    return row


async def ensure_conversation(
    db: AsyncSession, *, session_id: str, tenant_id: str, chat_id: str, now: datetime
) -> Conversation:
    """The chat's row, created in state ``bot`` on first sight; locked for this transaction."""
    insert = pg_insert if _is_pg(db) else sqlite_insert
    await db.execute(
        insert(Conversation)
        .values(
            session_id=session_id,
            chat_id=chat_id,
            tenant_id=tenant_id,
            state="bot",
            typing=False,
            pending=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["session_id", "chat_id"])
    )
    row = await get_conversation(db, session_id, chat_id, lock=True)
    assert row is not None
    return row


async def ensure_conversations(
    db: AsyncSession, keys: dict[tuple[str, str], str], *, now: datetime
) -> dict[tuple[str, str], Conversation]:
    """Many chats' rows at once (``keys``: (session, chat) -> tenant), created in state
    ``bot`` when new and locked for this transaction: two statements for a page of events."""
    if not keys:
        return {}
    insert = pg_insert if _is_pg(db) else sqlite_insert
    await db.execute(
        insert(Conversation)
        .values(
            [
                {
                    "session_id": session_id,
                    "chat_id": chat_id,
                    "tenant_id": tenant_id,
                    "state": "bot",
                    "typing": False,
                    "pending": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for (session_id, chat_id), tenant_id in keys.items()
            ]
        )
        .on_conflict_do_nothing(index_elements=["session_id", "chat_id"])
    )
    query = select(Conversation).where(
        tuple_(Conversation.session_id, Conversation.chat_id).in_(list(keys))
    )
    if _is_pg(db):
        query = query.with_for_update()
    rows = await db.scalars(query.execution_options(populate_existing=True))
    return {(row.session_id, row.chat_id): row for row in rows}


async def get_conversation(
    db: AsyncSession, session_id: str, chat_id: str, *, lock: bool = False
) -> Conversation | None:
    query = select(Conversation).where(
        Conversation.session_id == session_id, Conversation.chat_id == chat_id
    )
    if lock and _is_pg(db):
        query = query.with_for_update()
    query = query.execution_options(populate_existing=True)
    return (await db.scalars(query)).first()


async def list_conversations(
    db: AsyncSession, session_id: str, *, state: str | None = None, limit: int = 100
) -> list[Conversation]:
    query = (
        select(Conversation)
        .where(Conversation.session_id == session_id)
        .order_by(Conversation.last_message_at.desc().nulls_last(), Conversation.chat_id)
        .limit(limit)
    )
    if state is not None:
        query = query.where(Conversation.state == state)
    return list(await db.scalars(query))


def _no_batch_in_flight() -> Any:
    return ~exists().where(
        EngineBatch.session_id == Conversation.session_id,
        EngineBatch.chat_id == Conversation.chat_id,
        EngineBatch.status.in_(IN_FLIGHT),
    )


async def due_resumes(db: AsyncSession, now: datetime, limit: int = 100) -> list[Conversation]:
    query = (
        select(Conversation)
        .where(Conversation.state == "paused", Conversation.resume_at <= now)
        .order_by(Conversation.resume_at)
        .limit(limit)
    )
    return list(await db.scalars(query))


async def resume(
    db: AsyncSession, session_id: str, chat_id: str, *, now: datetime, only_due: bool
) -> Conversation | None:
    """Back to ``bot``; with ``only_due`` only if its timer has passed. None if nothing moved."""
    conditions = [
        Conversation.session_id == session_id,
        Conversation.chat_id == chat_id,
        Conversation.state != "bot",
    ]
    if only_due:
        conditions += [Conversation.state == "paused", Conversation.resume_at <= now]
    result = await db.execute(
        update(Conversation)
        .where(*conditions)
        .values(
            state="bot",
            paused_reason=None,
            paused_at=None,
            resume_at=None,
            typing=False,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult has rowcount
        return None
    return await get_conversation(db, session_id, chat_id)


async def due_flushes(db: AsyncSession, now: datetime, limit: int = 200) -> list[Conversation]:
    """Chats whose batching window ended and that have no batch being answered."""
    query = (
        select(Conversation)
        .where(
            Conversation.batch_due_at <= now,
            Conversation.pending > 0,
            _no_batch_in_flight(),
        )
        .order_by(Conversation.batch_due_at)
        .limit(limit)
    )
    return list(await db.scalars(query))


async def next_timer(db: AsyncSession) -> datetime | None:
    """The earliest resume or flush deadline still ahead of the engine."""
    resume_at = await db.scalar(
        select(func.min(Conversation.resume_at)).where(Conversation.state == "paused")
    )
    due_at = await db.scalar(
        select(func.min(Conversation.batch_due_at)).where(
            and_(Conversation.pending > 0, _no_batch_in_flight())
        )
    )
    found = [t for t in (resume_at, due_at) if t is not None]
    return min(found) if found else None


async def conversations_of(
    db: AsyncSession, session_id: str, chat_ids: Collection[str]
) -> dict[str, Conversation]:
    if not chat_ids:
        return {}
    query = select(Conversation).where(
        Conversation.session_id == session_id, Conversation.chat_id.in_(list(chat_ids))
    )
    return {row.chat_id: row for row in await db.scalars(query)}
