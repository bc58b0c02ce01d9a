"""Event sinks' cursors in the event log, and the lease of the worker publishing to each."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.store.models import SinkCursor
from wagate.store.repositories.webhooks import log_end


async def claim(db: AsyncSession, name: str, owner: str, now: datetime, ttl_s: float) -> int | None:
    """Take (or renew) the sink's lease; its cursor, or None when another worker holds it.
    A sink seen for the first time starts at the log's end: it gets the events appended
    from now on, as a new webhook does."""
    if await db.get(SinkCursor, name) is None:
        try:
            async with db.begin_nested():
                db.add(SinkCursor(name=name, cursor_seq=await log_end(db), updated_at=now))
        except IntegrityError:
            pass  # another worker made it first
    taken = await db.execute(
        update(SinkCursor)
        .where(
            SinkCursor.name == name,
            or_(
                SinkCursor.lease_owner.is_(None),
                SinkCursor.lease_owner == owner,
                SinkCursor.lease_expires_at < now,
            ),
        )
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=ttl_s))
        .returning(SinkCursor.cursor_seq)
        .execution_options(synchronize_session=False)
    )
    cursor = taken.scalar_one_or_none()
    return None if cursor is None else int(cursor)


async def advance(
    db: AsyncSession, name: str, owner: str, seq: int, now: datetime, ttl_s: float
) -> bool:
    """Move the cursor to ``seq`` (everything up to it is published) and renew the lease;
    False when the lease was lost meanwhile (the new holder publishes from the cursor)."""
    moved = await db.execute(
        update(SinkCursor)
        .where(SinkCursor.name == name, SinkCursor.lease_owner == owner)
        .values(cursor_seq=seq, updated_at=now, lease_expires_at=now + timedelta(seconds=ttl_s))
        .returning(SinkCursor.name)
        .execution_options(synchronize_session=False)
    )
    return moved.first() is not None


async def release(db: AsyncSession, name: str, owner: str) -> None:
    await db.execute(
        update(SinkCursor)
        .where(SinkCursor.name == name, SinkCursor.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


async def start(db: AsyncSession, name: str, now: datetime) -> None:
    """Make the sink's cursor at the log's end now (not at its first claim), so that it
    gets every event appended after this transaction."""
    if await db.get(SinkCursor, name) is None:
        try:
            async with db.begin_nested():
                db.add(SinkCursor(name=name, cursor_seq=await log_end(db), updated_at=now))
        except IntegrityError:
            pass  # another worker made it first


async def forget(db: AsyncSession, name: str) -> None:
    await db.execute(delete(SinkCursor).where(SinkCursor.name == name))
