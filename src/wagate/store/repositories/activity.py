"""Message and status activity for the dashboard: per-session counts, rates, status history.

Every function takes ``tenant_id``: a tenant sees its own sessions only, and
``None`` (the admin) sees every tenant. The counts use the same definitions
everywhere, so the Sessions page and the Activity chart agree:

- *sent*: outbound messages whose ``sent_at`` is in the window;
- *received*: inbound messages whose ``created_at`` is in the window;
- *failed*: messages whose status is ``failed`` and whose ``updated_at`` (the
  time they failed) is in the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, case, cast, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import Direction, MessageStatus
from wagate.store.models import Event, Message, Session

SESSION_STATUS_EVENT = "session.status"
MAX_BUCKETS = 10_000
"""The most buckets :func:`message_rates` returns (a day in 10 s buckets is 8,640)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DayCounts:
    """One session's activity since a given time (see the module docstring)."""

    sent: int
    received: int
    failed: int
    proactive_sent: int  # outbound proactive messages sent: what the daily cap counts
    last_activity: datetime | None  # the latest ``updated_at`` of its messages, at any time


@dataclass(frozen=True, slots=True)
class RateBucket:
    """Messages counted in ``[start, start + bucket_s)``; ``start`` is aware UTC."""

    start: datetime
    sent: int
    received: int
    failed: int


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A ``session.status`` event of the log: the session's observed status from ``at`` on.

    Not :class:`wagate.sessions.status.StatusChange`, which is the write that
    produces such an event.
    """

    session_id: str
    at: datetime
    status: str  # a SessionStatus value; kept a string so old events never fail to load
    previous: str | None  # the status before this change
    reason: str | None


def _tenant_filter(column: Any, tenant_id: str | None) -> list[ColumnElement[bool]]:
    return [] if tenant_id is None else [column == tenant_id]


async def session_day_counts(
    db: AsyncSession, tenant_id: str | None, since: datetime
) -> dict[str, DayCounts]:
    """Every session of the tenant (all sessions for ``None``) with its counts since ``since``.

    One ``GROUP BY`` over the sessions joined to their messages; a session
    without messages is there with zeros. ``last_activity`` looks at every
    message of the session, so this reads all of the tenant's messages (the
    retention sweep bounds them).
    """
    sent = (Message.direction == Direction.OUT.value) & (Message.sent_at >= since)
    received = (Message.direction == Direction.IN.value) & (Message.created_at >= since)
    failed = (Message.status == MessageStatus.FAILED.value) & (Message.updated_at >= since)
    query = (
        select(
            Session.id,
            func.count(case((sent, 1))),
            func.count(case((received, 1))),
            func.count(case((failed, 1))),
            func.count(case((sent & Message.proactive.is_(True), 1))),
            func.max(Message.updated_at),
        )
        .select_from(Session)
        .outerjoin(Message, Message.session_id == Session.id)
        .where(*_tenant_filter(Session.tenant_id, tenant_id))
        .group_by(Session.id)
    )
    return {
        session_id: DayCounts(
            sent=int(n_sent),
            received=int(n_received),
            failed=int(n_failed),
            proactive_sent=int(n_proactive),
            last_activity=last,
        )
        for session_id, n_sent, n_received, n_failed, n_proactive, last in await db.execute(query)
    }


def _bucket_number(db: AsyncSession, column: Any, bucket_s: int) -> ColumnElement[int]:
    """``floor(seconds since the Unix epoch / bucket_s)`` of a ``UtcDateTime`` column, in SQL.

    PostgreSQL stores ``timestamptz``: ``EXTRACT(EPOCH ...)`` is exact. SQLite
    stores naive UTC text (``YYYY-MM-DD HH:MM:SS.ffffff``), which
    ``strftime('%s', ...)`` reads as UTC. Only its first 19 characters are
    given: SQLite rounds a fraction to milliseconds, which would move
    ``12:01:59.9999`` into the next minute; cutting it off is the floor wanted.
    Integer division of the non-negative result is a floor too.
    """
    if db.get_bind().dialect.name == "postgresql":
        return cast(func.floor(extract("epoch", column) / bucket_s), BigInteger)
    whole_seconds = func.substr(column, 1, 19)
    return cast(func.strftime("%s", whole_seconds), BigInteger) // bucket_s


async def message_rates(
    db: AsyncSession,
    tenant_id: str | None,
    since: datetime,
    until: datetime,
    *,
    bucket_s: int = 60,
    session_id: str | None = None,
) -> list[RateBucket]:
    """Sent, received and failed messages per ``bucket_s`` seconds, oldest bucket first.

    Buckets are aligned on multiples of ``bucket_s`` since the Unix epoch
    (whole minutes by default), so repeated polls draw the same buckets and the
    axis labels fall on round times: the first bucket is the one holding
    ``since`` and is counted whole, the last is the one holding the instant
    before ``until`` (messages at or after ``until`` are left out). Every
    bucket in between is present, with zeros where nothing happened.

    The bucketing is done by the database: each count is one ``GROUP BY`` over
    the bucket number (:func:`_bucket_number`, the only dialect-specific
    part), so at most a few thousand small rows come back however busy the
    window was, instead of one timestamp per message.
    """
    if bucket_s <= 0:
        raise ValueError("bucket_s must be positive")
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    if until <= since:
        return []
    step = timedelta(seconds=bucket_s)
    first = (since - _EPOCH) // step
    last = -((_EPOCH - until) // step) - 1  # ceil((until - epoch) / step) - 1
    if last - first + 1 > MAX_BUCKETS:
        raise ValueError(f"more than {MAX_BUCKETS} buckets; use a larger bucket_s")
    start = _EPOCH + first * step

    scope = [*_tenant_filter(Message.tenant_id, tenant_id)]
    if session_id is not None:
        scope.append(Message.session_id == session_id)
    kinds: dict[str, tuple[Any, ColumnElement[bool]]] = {
        "sent": (Message.sent_at, Message.direction == Direction.OUT.value),
        "received": (Message.created_at, Message.direction == Direction.IN.value),
        "failed": (Message.updated_at, Message.status == MessageStatus.FAILED.value),
    }
    counts: dict[str, dict[int, int]] = {}
    for kind, (column, condition) in kinds.items():
        bucket = _bucket_number(db, column, bucket_s).label("bucket")
        query = (
            select(bucket, func.count())
            .where(*scope, condition, column >= start, column < until)
            .group_by(bucket)
        )
        counts[kind] = {int(number): int(n) for number, n in await db.execute(query)}
    return [
        RateBucket(
            start=_EPOCH + number * step,
            sent=counts["sent"].get(number, 0),
            received=counts["received"].get(number, 0),
            failed=counts["failed"].get(number, 0),
        )
        for number in range(first, last + 1)
    ]


async def status_changes(
    db: AsyncSession,
    tenant_id: str | None,
    since: datetime,
    *,
    session_id: str | None = None,
    limit: int = 500,
) -> list[StatusChange]:
    """Session status changes logged at or after ``since``, newest first (log order).

    Read from the ``session.status`` events (see
    :func:`wagate.store.repositories.sessions.change_status`), so they go as
    far back as the retention of the event log.
    """
    query = (
        select(Event.session_id, Event.created_at, Event.data)
        .where(
            Event.type == SESSION_STATUS_EVENT,
            Event.session_id.is_not(None),
            Event.created_at >= since,
            *_tenant_filter(Event.tenant_id, tenant_id),
        )
        .order_by(Event.seq.desc())
        .limit(limit)
    )
    if session_id is not None:
        query = query.where(Event.session_id == session_id)
    return [
        StatusChange(
            session_id=str(sid),
            at=at,
            status=str(data.get("status")),
            previous=_optional_str(data.get("previous")),
            reason=_optional_str(data.get("reason")),
        )
        for sid, at, data in await db.execute(query)
    ]


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


async def held_sessions(db: AsyncSession, tenant_id: str | None) -> dict[str, str]:
    """Sessions with queued messages a guardrail holds back, with one reason each (the
    most common: daily_cap, quiet_hours, rate_limit, ...)."""
    query = (
        select(Message.session_id, Message.hold_reason, func.count())
        .where(
            Message.direction == Direction.OUT.value,
            Message.status == MessageStatus.QUEUED.value,
            Message.hold_reason.is_not(None),
        )
        .group_by(Message.session_id, Message.hold_reason)
    )
    if tenant_id is not None:
        query = query.join(Session, Session.id == Message.session_id).where(
            Session.tenant_id == tenant_id
        )
    held: dict[str, tuple[str, int]] = {}
    for session_id, reason, count in await db.execute(query):
        if session_id not in held or count > held[session_id][1]:
            held[session_id] = (str(reason), int(count))
    return {session_id: reason for session_id, (reason, _) in held.items()}
