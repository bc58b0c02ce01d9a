"""Dashboard activity on SQLite and PostgreSQL: per-session counts, rates, status history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from tests.store.test_repositories import _session as session_in
from wagate.domain import SessionStatus, new_id
from wagate.store import Database
from wagate.store.models import Message
from wagate.store.repositories import messages, sessions
from wagate.store.repositories.activity import (
    DayCounts,
    RateBucket,
    StatusChange,
    message_rates,
    session_day_counts,
    status_changes,
)

SINCE = datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC)
BEFORE = SINCE - timedelta(hours=2)


def _at(hh: int, mm: int, ss: int = 0, us: int = 0) -> datetime:
    return datetime(2026, 1, 5, hh, mm, ss, us, tzinfo=UTC)


async def _add(
    db: Database,
    tenant_id: str,
    session_id: str,
    *,
    direction: str,
    status: str,
    created_at: datetime,
    updated_at: datetime | None = None,
    sent_at: datetime | None = None,
    proactive: bool | None = None,
) -> None:
    row: dict[str, Any] = messages.message_row(
        id=new_id("msg"),
        tenant_id=tenant_id,
        session_id=session_id,
        direction=direction,
        chat_id="5511988887777@s.whatsapp.net",
        chat_type="direct",
        from_me=direction == "out",
        type="text",
        text="x",
        timestamp=created_at,
        status=status,
        proactive=proactive,
        sent_at=sent_at,
        created_at=created_at,
        updated_at=updated_at or created_at,
    )
    async with db.transaction() as tx:
        await tx.execute(insert(Message), [row])


async def _sent(db: Database, tenant_id: str, session_id: str, at: datetime, **kw: Any) -> None:
    await _add(
        db,
        tenant_id,
        session_id,
        direction="out",
        status="sent",
        created_at=at - timedelta(seconds=1),
        updated_at=at,
        sent_at=at,
        **kw,
    )


async def _received(db: Database, tenant_id: str, session_id: str, at: datetime) -> None:
    await _add(db, tenant_id, session_id, direction="in", status="received", created_at=at)


async def _failed(db: Database, tenant_id: str, session_id: str, at: datetime) -> None:
    await _add(
        db,
        tenant_id,
        session_id,
        direction="out",
        status="failed",
        created_at=at - timedelta(minutes=5),
        updated_at=at,
    )


async def test_day_counts_per_session_of_the_tenant(db: Database) -> None:
    tenant_id, busy = await session_in(db, "t1", "busy")
    _, idle = await session_in(db, "t1", "idle")
    other_tenant, elsewhere = await session_in(db, "t2", "elsewhere")

    await _sent(db, tenant_id, busy, SINCE, proactive=True)  # on the boundary: counted
    await _sent(db, tenant_id, busy, _at(12, 10), proactive=False)
    await _sent(db, tenant_id, busy, _at(12, 20))  # proactive unknown (NULL): not proactive
    await _sent(db, tenant_id, busy, BEFORE, proactive=True)  # before the window
    await _add(  # queued in the window, not sent yet
        db, tenant_id, busy, direction="out", status="queued", created_at=_at(12, 30)
    )
    await _received(db, tenant_id, busy, _at(12, 15))
    await _received(db, tenant_id, busy, _at(12, 16))
    await _received(db, tenant_id, busy, BEFORE)
    await _failed(db, tenant_id, busy, _at(12, 40))  # the latest activity
    await _failed(db, tenant_id, busy, BEFORE)
    await _sent(db, other_tenant, elsewhere, _at(12, 5), proactive=True)

    async with db.read() as tx:
        mine = await session_day_counts(tx, tenant_id, SINCE)
        everyone = await session_day_counts(tx, None, SINCE)

    assert mine == {
        busy: DayCounts(sent=3, received=2, failed=1, proactive_sent=1, last_activity=_at(12, 40)),
        idle: DayCounts(sent=0, received=0, failed=0, proactive_sent=0, last_activity=None),
    }
    assert mine[busy].last_activity is not None
    assert mine[busy].last_activity.tzinfo is not None
    assert everyone == {
        **mine,
        elsewhere: DayCounts(
            sent=1, received=0, failed=0, proactive_sent=1, last_activity=_at(12, 5)
        ),
    }


async def test_last_activity_looks_before_the_window(db: Database) -> None:
    tenant_id, session_id = await session_in(db)
    await _received(db, tenant_id, session_id, BEFORE)
    async with db.read() as tx:
        counts = await session_day_counts(tx, tenant_id, SINCE)
    assert counts == {session_id: DayCounts(0, 0, 0, 0, BEFORE)}


async def test_rates_fill_every_bucket_and_count_each_message_once(db: Database) -> None:
    tenant_id, session_id = await session_in(db, "t1", "a")
    _, sibling = await session_in(db, "t1", "b")
    other_tenant, elsewhere = await session_in(db, "t2", "c")

    # The window is 12:00:30 to 12:04:00: buckets 12:00 (whole), 12:01, 12:02, 12:03.
    await _sent(db, tenant_id, session_id, _at(11, 59, 59, 999_999))  # before 12:00: out
    await _sent(db, tenant_id, session_id, _at(12, 0, 5))  # in the first bucket
    await _sent(db, tenant_id, session_id, _at(12, 1, 59, 999_999))
    await _sent(db, tenant_id, session_id, _at(12, 1, 0))
    await _received(db, tenant_id, session_id, _at(12, 1, 0))
    await _received(db, tenant_id, sibling, _at(12, 1, 30))
    await _failed(db, tenant_id, session_id, _at(12, 3, 59))
    await _sent(db, tenant_id, session_id, _at(12, 4))  # at ``until``: out
    await _received(db, other_tenant, elsewhere, _at(12, 1, 0))
    until = _at(12, 4)

    async with db.read() as tx:
        tenant = await message_rates(tx, tenant_id, SINCE, until)
        one_session = await message_rates(tx, tenant_id, SINCE, until, session_id=session_id)
        admin = await message_rates(tx, None, SINCE, until)
        hourly = await message_rates(tx, tenant_id, SINCE, until, bucket_s=3600)

    assert tenant == [
        RateBucket(start=_at(12, 0), sent=1, received=0, failed=0),
        RateBucket(start=_at(12, 1), sent=2, received=2, failed=0),
        RateBucket(start=_at(12, 2), sent=0, received=0, failed=0),
        RateBucket(start=_at(12, 3), sent=0, received=0, failed=1),
    ]
    assert [b.received for b in one_session] == [0, 1, 0, 0]
    assert [b.received for b in admin] == [0, 3, 0, 0]
    assert hourly == [RateBucket(start=_at(12, 0), sent=3, received=2, failed=1)]
    assert all(b.start.tzinfo is not None for b in tenant)


async def test_rates_of_an_empty_window(db: Database) -> None:
    tenant_id, _ = await session_in(db)
    async with db.read() as tx:
        quiet = await message_rates(tx, tenant_id, _at(9, 0), _at(12, 0), bucket_s=300)
        nothing = await message_rates(tx, tenant_id, _at(12, 0), _at(12, 0))
        with pytest.raises(ValueError, match="bucket_s"):
            await message_rates(tx, tenant_id, _at(9, 0), _at(12, 0), bucket_s=0)
        with pytest.raises(ValueError, match="buckets"):
            await message_rates(tx, tenant_id, _at(0, 0), _at(12, 0), bucket_s=1)
    assert len(quiet) == 36
    assert quiet[0] == RateBucket(_at(9, 0), 0, 0, 0)
    assert quiet[-1].start == _at(11, 55)
    assert nothing == []


async def test_status_changes_come_from_the_event_log_newest_first(db: Database) -> None:
    tenant_id, session_id = await session_in(db, "t1", "a")
    _, sibling = await session_in(db, "t1", "b")
    other_tenant, elsewhere = await session_in(db, "t2", "c")
    steps = [
        (session_id, SessionStatus.STARTING, None, BEFORE),  # before the window
        (session_id, SessionStatus.QR, None, _at(12, 1)),
        (session_id, SessionStatus.CONNECTED, None, _at(12, 2)),
        (sibling, SessionStatus.FAILED, "<b>bad</b> proxy", _at(12, 3)),
        (session_id, SessionStatus.RECONNECTING, "stream error", _at(12, 4)),
        (elsewhere, SessionStatus.CONNECTED, None, _at(12, 5)),
    ]
    for sid, status, reason, at in steps:
        async with db.transaction() as tx:
            await sessions.change_status(tx, sid, status, reason, now=at)

    async with db.read() as tx:
        changes = await status_changes(tx, tenant_id, SINCE)
        of_one = await status_changes(tx, tenant_id, SINCE, session_id=session_id, limit=2)
        admin = await status_changes(tx, None, SINCE)

    assert changes == [
        StatusChange(session_id, _at(12, 4), "reconnecting", "connected", "stream error"),
        StatusChange(sibling, _at(12, 3), "failed", "stopped", "<b>bad</b> proxy"),
        StatusChange(session_id, _at(12, 2), "connected", "qr", None),
        StatusChange(session_id, _at(12, 1), "qr", "starting", None),
    ]
    assert of_one == [changes[0], changes[2]]
    assert [c.session_id for c in admin] == [elsewhere, *(c.session_id for c in changes)]
    assert other_tenant != tenant_id
