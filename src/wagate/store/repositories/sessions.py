"""Sessions: desired state, observed state, credentials and login material."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import (
    DesiredState,
    NotFound,
    SessionNameTaken,
    SessionStatus,
    new_id,
    new_secret,
)
from wagate.store.models import Session
from wagate.store.repositories.events import append_event
from wagate.store.statements import update_by_key

FLEET_ORDER = (Session.priority.desc(), Session.created_at, Session.id)
"""The order sessions are run in: priority, then age, then id (restore, ranks, waits)."""


async def create_session(
    db: AsyncSession,
    *,
    tenant_id: str,
    name: str,
    transport: str,
    config: dict[str, Any],
    proxy_url: str | None,
    priority: int,
    desired: DesiredState,
    now: datetime,
    settings: dict[str, Any] | None = None,
    session_id: str | None = None,
) -> Session:
    existing = await db.scalars(
        select(Session.id).where(Session.tenant_id == tenant_id, Session.name == name)
    )
    if existing.first() is not None:
        raise SessionNameTaken(f"a session named {name!r} already exists")
    session = Session(
        id=session_id or new_id("ses"),
        tenant_id=tenant_id,
        name=name,
        transport=transport,
        config=config,
        credentials=None,
        proxy_url=proxy_url,
        priority=priority,
        desired_state=desired.value,
        settings=settings or {},
        status=SessionStatus.STOPPED.value,
        ingest_token=new_secret(24),
        lease_token=0,
        created_at=now,
        updated_at=now,
    )
    db.add(session)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError:
        raise SessionNameTaken(f"a session named {name!r} already exists") from None
    return session


async def get_session(
    db: AsyncSession, key: str, tenant_id: str | None, *, for_update: bool = False
) -> Session:
    """A session by id, or by name within the tenant; 404 when another tenant owns it."""
    query = select(Session).where(or_(Session.id == key, Session.name == key))
    if tenant_id is not None:
        query = query.where(Session.tenant_id == tenant_id)
    if for_update:
        query = query.with_for_update()
    rows = list(await db.scalars(query))
    by_id = [s for s in rows if s.id == key]
    if by_id:
        return by_id[0]
    if len(rows) == 1:
        return rows[0]
    if len(rows) > 1:
        raise NotFound(f"session name {key!r} is ambiguous across tenants; use its id")
    raise NotFound(f"session {key!r} not found")


async def list_sessions(db: AsyncSession, tenant_id: str | None) -> list[Session]:
    query = select(Session).order_by(Session.created_at, Session.id)
    if tenant_id is not None:
        query = query.where(Session.tenant_id == tenant_id)
    return list(await db.scalars(query))


async def sessions_to_run(db: AsyncSession, limit: int) -> list[Session]:
    """Sessions whose operator wants them running, highest priority first."""
    query = (
        select(Session)
        .where(Session.desired_state == DesiredState.RUNNING.value)
        .order_by(*FLEET_ORDER)
        .limit(limit)
    )
    return list(await db.scalars(query))


async def sessions_named(db: AsyncSession, name: str, *, transport: str) -> list[Session]:
    """Every tenant's sessions called ``name`` on ``transport`` (the ingest routes'
    lookup; by the name index)."""
    query = select(Session).where(Session.name == name, Session.transport == transport)
    return list(await db.scalars(query))


async def count_by_status(db: AsyncSession) -> dict[str, int]:
    rows = await db.execute(select(Session.status, func.count()).group_by(Session.status))
    return {str(status): int(count) for status, count in rows}


async def delete_session(db: AsyncSession, session: Session) -> None:
    await db.delete(session)


async def change_status(
    db: AsyncSession,
    session_id: str,
    status: SessionStatus,
    reason: str | None,
    *,
    now: datetime,
    detail: dict[str, Any] | None = None,
    **fields: Any,
) -> Session:
    """Record an observed status (and other fields) with its ``session.status`` event.

    The event is appended when the status changes, or when ``detail`` says why
    the same status was entered again (a further reconnect attempt).
    """
    row = await get_session(db, session_id, None)
    previous = row.status
    row.status = status.value
    row.status_reason = reason
    row.updated_at = now
    for name, value in fields.items():
        setattr(row, name, value)
    if previous != status.value or detail:
        await append_event(
            db,
            tenant_id=row.tenant_id,
            session_id=row.id,
            type="session.status",
            data={
                "status": status.value,
                "previous": previous,
                "reason": reason,
                "phone": row.phone,
                **(detail or {}),
            },
            now=now,
        )
    return row


# --------------------------------------------------------------------------- leases


def _free_or_mine(worker: str, now: datetime) -> Any:
    return or_(
        Session.lease_owner.is_(None),
        Session.lease_expires_at < now,
        Session.lease_owner == worker,
    )


async def claimable_sessions(
    db: AsyncSession,
    worker: str,
    now: datetime,
    limit: int,
    *,
    running_here: Collection[str] = (),
) -> list[str]:
    """Sessions that should run and that no live worker holds (or this one holds without
    running them), highest priority first; ``running_here`` are left out, so they do not
    take the places of the ``limit``."""
    if limit <= 0:
        return []
    query = (
        select(Session.id)
        .where(
            Session.desired_state == DesiredState.RUNNING.value,
            _free_or_mine(worker, now),
            Session.id.not_in(list(running_here)),
        )
        .order_by(*FLEET_ORDER)
        .limit(limit)
    )
    return list(await db.scalars(query))


WAITING_FOR_CAPACITY = "waiting_for_capacity"
DISPLACED = "displaced_by_priority"
HANDED_OVER = "handed_over"  # to a worker below its share of the fleet


@dataclass(frozen=True, slots=True)
class Ranked:
    """A session that should run, in the fleet's order, and the live worker holding it."""

    id: str
    owner: str | None  # None: no worker holds a live lease on it

    @property
    def held(self) -> bool:
        return self.owner is not None


async def ranked_to_run(db: AsyncSession, now: datetime) -> list[Ranked]:
    """Every session that should run, best first: priority, then age, then id."""
    rows = await db.execute(
        select(Session.id, Session.lease_owner, Session.lease_expires_at)
        .where(Session.desired_state == DesiredState.RUNNING.value)
        .order_by(*FLEET_ORDER)
    )
    return [
        Ranked(session_id, owner if expires is not None and expires >= now else None)
        for session_id, owner, expires in rows
    ]


async def beyond_capacity(
    db: AsyncSession, capacity: int, now: datetime, grace: timedelta
) -> list[Session]:
    """Sessions that should run but rank beyond the fleet's ``capacity`` (priority, then
    age, then id) and that no worker holds: never leased, or leased by a worker silent
    for ``grace`` past its lease (a worker paused a moment must not have its sessions'
    status written over)."""
    ranked_out = (
        select(Session.id)
        .where(Session.desired_state == DesiredState.RUNNING.value)
        .order_by(*FLEET_ORDER)
        .offset(capacity)
    )
    query = (
        select(Session)
        .where(
            Session.id.in_(ranked_out.scalar_subquery()),
            or_(Session.lease_owner.is_(None), Session.lease_expires_at < now - grace),
        )
        .order_by(*FLEET_ORDER)
    )
    return list(await db.scalars(query))


async def report_waiting(
    db: AsyncSession, session_id: str, now: datetime, fleet_capacity: int
) -> bool:
    """Record that the session waits for a place: status ``stopped``, reason
    ``waiting_for_capacity``, and its ``session.status`` event, once. A conditional update
    takes the report first, so two passes that race (two workers, or a worker's own) write
    one event: the second finds the reason set and reports nothing."""
    taken = await db.execute(
        update(Session)
        .where(
            Session.id == session_id,
            or_(Session.status_reason.is_(None), Session.status_reason != WAITING_FOR_CAPACITY),
        )
        .values(status_reason=WAITING_FOR_CAPACITY)
        .returning(Session.id)
        .execution_options(synchronize_session=False)
    )
    if taken.first() is None:
        return False
    await change_status(
        db,
        session_id,
        SessionStatus.STOPPED,
        WAITING_FOR_CAPACITY,
        now=now,
        detail={"fleet_capacity": fleet_capacity},
    )
    return True


@dataclass(frozen=True, slots=True)
class Claimed:
    """A session whose lease a worker just took: its fencing token, and its tenant."""

    token: int
    tenant_id: str


async def claim_leases(
    db: AsyncSession, session_ids: Collection[str], worker: str, now: datetime, ttl_s: float
) -> dict[str, Claimed]:
    """Take the leases of these sessions that are free, expired or ours, in one statement
    (a takeover claims a dead worker's sessions together); the claimed ones by id."""
    if not session_ids:
        return {}
    statement = (
        update(Session)
        .where(Session.id.in_(list(session_ids)), _free_or_mine(worker, now))
        .values(
            lease_owner=worker,
            lease_token=Session.lease_token + 1,
            lease_expires_at=now + timedelta(seconds=ttl_s),
        )
        .returning(Session.id, Session.lease_token, Session.tenant_id)
        .execution_options(synchronize_session=False)
    )
    rows = (await db.execute(statement)).all()
    return {str(sid): Claimed(int(token), str(tenant)) for sid, token, tenant in rows}


async def renew_leases(
    db: AsyncSession, worker: str, tokens: dict[str, int], now: datetime, ttl_s: float
) -> set[str]:
    """Extend this worker's leases; returns the sessions whose lease it still holds."""
    if not tokens:
        return set()
    statement = (
        update(Session)
        .where(Session.id.in_(list(tokens)), Session.lease_owner == worker)
        .values(lease_expires_at=now + timedelta(seconds=ttl_s))
        .returning(Session.id, Session.lease_token)
        .execution_options(synchronize_session=False)
    )
    rows = (await db.execute(statement)).all()
    return {session_id for session_id, token in rows if tokens.get(session_id) == token}


async def release_lease(db: AsyncSession, session_id: str, worker: str) -> None:
    await db.execute(
        update(Session)
        .where(Session.id == session_id, Session.lease_owner == worker)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


async def desired_states(db: AsyncSession, session_ids: list[str]) -> dict[str, str]:
    if not session_ids:
        return {}
    rows = await db.execute(
        select(Session.id, Session.desired_state).where(Session.id.in_(session_ids))
    )
    return {str(session_id): str(desired) for session_id, desired in rows}


# --------------------------------------------------------------------------- status, in batches

SESSIONS: Table = Session.__table__  # type: ignore[assignment]


def status_rows(conn: Connection, session_ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """id -> (tenant_id, status, phone, lease_token) of these sessions, for a batch of
    status changes."""
    if not session_ids:
        return {}
    c = SESSIONS.c
    query = select(c.id, c.tenant_id, c.status, c.phone, c.lease_token).where(
        c.id.in_(list(session_ids))
    )
    if conn.dialect.name == "postgresql":
        query = query.order_by(c.id).with_for_update()  # one lock order for every batch
    return {row.id: dict(row._mapping) for row in conn.execute(query)}


def lease_tokens(conn: Connection, session_ids: Collection[str]) -> dict[str, int]:
    """id -> current fencing token of these sessions (a batch's fence check)."""
    if not session_ids:
        return {}
    c = SESSIONS.c
    rows = conn.execute(select(c.id, c.lease_token).where(c.id.in_(list(session_ids))))
    return {str(session_id): int(token) for session_id, token in rows}


def update_many(conn: Connection, changes: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Apply (session id, column values) changes: one ``executemany`` per shape."""
    update_by_key(conn, SESSIONS, "id", ((sid, values, {}) for sid, values in changes))
