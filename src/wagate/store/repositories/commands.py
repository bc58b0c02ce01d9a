"""Session commands: calls for a session's live connection, crossing to the worker that
runs it (see :mod:`wagate.sessions.remote`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import new_id
from wagate.store.models import Session, SessionCommand

CHANNEL = "wagate_commands"
"""The PostgreSQL NOTIFY channel; the payload is the id of the worker that should look."""

OPEN = "pending"


async def create(
    db: AsyncSession,
    *,
    session_id: str,
    kind: str,
    args: dict[str, Any],
    now: datetime,
    ttl: timedelta,
    owner: str,
) -> str:
    """The command, and on PostgreSQL a NOTIFY for its owner, sent when this commits."""
    command = SessionCommand(
        id=new_id("cmd"),
        session_id=session_id,
        kind=kind,
        args=args,
        status=OPEN,
        created_at=now,
        expires_at=now + ttl,
    )
    db.add(command)
    await db.flush()
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(
            text("SELECT pg_notify(:channel, :owner)"), {"channel": CHANNEL, "owner": owner}
        )
    return command.id


async def lease_owner(db: AsyncSession, session_id: str, now: datetime) -> str | None:
    """The worker whose lease on the session has not expired, if any."""
    row = (
        await db.execute(
            select(Session.lease_owner, Session.lease_expires_at).where(Session.id == session_id)
        )
    ).first()
    if row is None or row[0] is None or row[1] is None or row[1] <= now:
        return None
    return str(row[0])


async def any_open(db: AsyncSession, session_ids: list[str], now: datetime) -> bool:
    """Whether a command waits for one of these sessions (a read: the poll takes no
    write lock when there is nothing to do, which is nearly always)."""
    if not session_ids:
        return False
    found = await db.scalar(
        select(SessionCommand.id)
        .where(
            SessionCommand.status == OPEN,
            SessionCommand.session_id.in_(session_ids),
            SessionCommand.expires_at > now,
        )
        .limit(1)
    )
    return found is not None


async def claim(
    db: AsyncSession, worker_id: str, session_ids: list[str], now: datetime, limit: int = 50
) -> list[SessionCommand]:
    """Open commands for sessions this worker runs, marked as taken by it."""
    if not session_ids:
        return []
    query = (
        select(SessionCommand)
        .where(
            SessionCommand.status == OPEN,
            SessionCommand.session_id.in_(session_ids),
            SessionCommand.expires_at > now,
        )
        .order_by(SessionCommand.created_at, SessionCommand.id)
        .limit(limit)
    )
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(await db.scalars(query))
    for row in rows:
        row.status = "running"
        row.claimed_by = worker_id
    return rows


async def finish(
    db: AsyncSession,
    command_id: str,
    now: datetime,
    *,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> None:
    await db.execute(
        update(SessionCommand)
        .where(SessionCommand.id == command_id, SessionCommand.status == "running")
        .values(status="failed" if error else "done", result=result, error=error, done_at=now)
    )


async def answer(db: AsyncSession, command_id: str) -> SessionCommand | None:
    return await db.get(SessionCommand, command_id, populate_existing=True)


async def abandon(db: AsyncSession, command_id: str, now: datetime) -> bool:
    """The caller stopped waiting: a command not yet taken is never run. False when the
    owner took it already (it may still run)."""
    result = await db.execute(
        update(SessionCommand)
        .where(SessionCommand.id == command_id, SessionCommand.status == OPEN)
        .values(status="abandoned", done_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
