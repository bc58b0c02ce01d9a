"""The workers sharing the database: their heartbeats and what they hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.store.models import Session, Worker


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """What a worker says about itself at each heartbeat."""

    id: str
    host: str
    pid: int
    version: str
    capacity: int
    started_at: datetime
    messages_per_s: float


async def heartbeat(db: AsyncSession, report: WorkerReport, now: datetime) -> None:
    """Insert or refresh the worker's row (one statement, in the lease pass's transaction)."""
    values = {
        "id": report.id,
        "host": report.host,
        "pid": report.pid,
        "version": report.version,
        "capacity": report.capacity,
        "messages_per_s": report.messages_per_s,
        "started_at": report.started_at,
        "heartbeat_at": now,
        "stopped_at": None,
    }
    postgres = db.get_bind().dialect.name == "postgresql"
    insert = pg_insert if postgres else sqlite_insert
    statement = insert(Worker).values(**values)
    later = func.greatest if postgres else func.max  # two-argument max() is scalar in SQLite
    changes: dict[str, Any] = {k: statement.excluded[k] for k in values if k != "id"}
    # two passes of one worker may commit out of order: the heartbeat never goes back
    changes["heartbeat_at"] = later(Worker.heartbeat_at, statement.excluded.heartbeat_at)
    statement = statement.on_conflict_do_update(index_elements=[Worker.id], set_=changes)
    await db.execute(statement)


async def alive_capacities(
    db: AsyncSession, now: datetime, ttl_s: float, *, me: str, my_capacity: int
) -> dict[str, int]:
    """The live workers and how many sessions each may run. The asking worker counts
    with ``my_capacity`` whatever its own row says: it is alive, since it asks (after a
    long pause its last heartbeat may look old to it)."""
    rows = await db.execute(
        select(Worker.id, Worker.capacity).where(
            Worker.id != me,
            Worker.stopped_at.is_(None),
            Worker.heartbeat_at >= now - timedelta(seconds=ttl_s),
        )
    )
    return {**{str(worker): int(capacity) for worker, capacity in rows}, me: my_capacity}


async def stopped(db: AsyncSession, worker_id: str, now: datetime) -> None:
    await db.execute(update(Worker).where(Worker.id == worker_id).values(stopped_at=now))


@dataclass(frozen=True, slots=True)
class WorkerView:
    worker: Worker
    sessions: int  # sessions whose lease it holds now
    alive: bool  # stopped cleanly or silent longer than the lease TTL: not alive


FORGET_AFTER = timedelta(days=1)
"""A worker silent this long is no longer listed (its row goes a week later)."""


async def list_workers(
    db: AsyncSession, now: datetime, ttl_s: float, *, forget_after: timedelta = FORGET_AFTER
) -> list[WorkerView]:
    """Workers heard from within ``forget_after``, live ones first, with their sessions."""
    rows = list(
        await db.scalars(
            select(Worker)
            .where(Worker.heartbeat_at >= now - forget_after)
            .order_by(Worker.started_at, Worker.id)
        )
    )
    held = dict(
        (
            await db.execute(
                select(Session.lease_owner, func.count())
                .where(Session.lease_owner.is_not(None), Session.lease_expires_at > now)
                .group_by(Session.lease_owner)
            )
        ).all()
    )
    silent_after = now - timedelta(seconds=ttl_s)
    views = [
        WorkerView(
            worker=row,
            sessions=int(held.get(row.id, 0)),
            alive=row.stopped_at is None and row.heartbeat_at >= silent_after,
        )
        for row in rows
    ]
    return sorted(views, key=lambda v: not v.alive)
