"""Deleting what is older than its retention, a bounded batch per statement.

Each function deletes at most ``limit`` rows created before ``before`` and
returns what it deleted, so the sweeper (:mod:`wagate.store.retention`) can go
on until a batch comes back short, committing between batches: no statement
holds the writer for long, whatever the backlog. Rows are taken oldest first
by their primary key, which follows their age.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.store.models import (
    DeadLetter,
    Event,
    Login,
    Message,
    SessionCommand,
    WebhookDelivery,
    Worker,
)
from wagate.store.models_engine import EngineStep

OPEN_DELIVERIES = ("pending", "failed")
OPEN_MESSAGES = ("queued", "sending")  # still to be sent: never deleted


async def _delete_batch(db: AsyncSession, model: type, key: str, chosen: Select[Any]) -> int:
    column = getattr(model, key)
    result = await db.execute(
        delete(model)
        .where(column.in_(chosen.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult has rowcount


async def delete_events(db: AsyncSession, before: datetime, limit: int) -> int:
    """Events older than ``before`` that no webhook still has to deliver (their finished
    deliveries go with them)."""
    still_open = exists().where(
        WebhookDelivery.event_seq == Event.seq, WebhookDelivery.status.in_(OPEN_DELIVERIES)
    )
    chosen = (
        select(Event.seq)
        .where(Event.created_at < before, ~still_open)
        .order_by(Event.seq)
        .limit(limit)
    )
    return await _delete_batch(db, Event, "seq", chosen)


async def delete_deliveries(db: AsyncSession, before: datetime, limit: int) -> int:
    """Finished deliveries (delivered or dead) older than ``before``."""
    chosen = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.created_at < before,
            WebhookDelivery.status.not_in(OPEN_DELIVERIES),
        )
        .order_by(WebhookDelivery.id)  # ids grow with time
        .limit(limit)
    )
    return await _delete_batch(db, WebhookDelivery, "id", chosen)


async def delete_dead_letters(db: AsyncSession, before: datetime, limit: int) -> int:
    return await _delete_older(db, DeadLetter, before, limit)


async def delete_engine_steps(db: AsyncSession, before: datetime, limit: int) -> int:
    return await _delete_older(db, EngineStep, before, limit)


async def delete_ended_logins(db: AsyncSession, before: datetime, limit: int) -> int:
    """Logins that ended (logged out, or expired) before ``before``."""
    chosen = (
        select(Login.id)
        .where(or_(Login.revoked_at < before, Login.expires_at < before))
        .order_by(Login.id)
        .limit(limit)
    )
    return await _delete_batch(db, Login, "id", chosen)


async def delete_silent_workers(db: AsyncSession, before: datetime, limit: int) -> int:
    """Workers whose last heartbeat is older than ``before``."""
    chosen = select(Worker.id).where(Worker.heartbeat_at < before).order_by(Worker.id).limit(limit)
    return await _delete_batch(db, Worker, "id", chosen)


async def delete_commands(db: AsyncSession, before: datetime, limit: int) -> int:
    """Calls between workers made before ``before``: long answered, abandoned or expired."""
    chosen = (
        select(SessionCommand.id)
        .where(SessionCommand.created_at < before)
        .order_by(SessionCommand.id)
        .limit(limit)
    )
    return await _delete_batch(db, SessionCommand, "id", chosen)


async def _delete_older(
    db: AsyncSession, model: type[DeadLetter] | type[EngineStep], before: datetime, limit: int
) -> int:
    """Rows of an append-only log (``seq``, ``created_at``) older than ``before``."""
    chosen = select(model.seq).where(model.created_at < before).order_by(model.seq).limit(limit)
    return await _delete_batch(db, model, "seq", chosen)


async def delete_messages(
    db: AsyncSession, before: datetime, limit: int
) -> list[tuple[str, str, str | None]]:
    """Messages older than ``before`` that are not waiting to be sent; for each deleted one
    with a stored file, (session id, message id, mime type), to remove the file."""
    chosen = (
        select(Message.seq)
        .where(Message.created_at < before, Message.status.not_in(OPEN_MESSAGES))
        .order_by(Message.seq)
        .limit(limit)
    )
    result = await db.execute(
        delete(Message)
        .where(Message.seq.in_(chosen.scalar_subquery()))
        .returning(Message.session_id, Message.id, Message.media)
        .execution_options(synchronize_session=False)
    )
    deleted: list[tuple[str, str, str | None]] = []
    for session_id, message_id, media in result.all():
        if isinstance(media, dict) and media.get("size") is not None:
            deleted.append((session_id, message_id, media.get("mime_type")))
        else:
            deleted.append((session_id, message_id, None))
    return deleted
