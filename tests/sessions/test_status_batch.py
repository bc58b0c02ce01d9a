"""Session status changes through the group commit, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.store.test_repositories import _session as session_row_in
from wagate.domain import NotFound, SessionStatus
from wagate.sessions.status import StatusChange, StatusChangeKind
from wagate.store import Database
from wagate.store.models import Event, Session
from wagate.store.repositories import sessions

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


async def _session(db: Database, name: str) -> str:
    return (await session_row_in(db, name=name))[1]


async def test_a_storm_of_changes_commits_together_in_order(db: Database) -> None:
    ids = [await _session(db, f"s{i}") for i in range(20)]
    committed: list[set[str]] = []
    kind = StatusChangeKind(committed.append)
    later = NOW + timedelta(seconds=1)
    commits = db.commits
    futures = []
    for session_id in ids:
        futures.append(
            db.batches.enqueue(
                kind,
                StatusChange(session_id, SessionStatus.RECONNECTING, "428", NOW, detail={"n": 1}),
            )
        )
        futures.append(
            db.batches.enqueue(
                kind,
                StatusChange(
                    session_id, SessionStatus.CONNECTED, None, later, fields={"phone": "5511"}
                ),
            )
        )
    assert set(await asyncio.gather(*futures)) == {await _tenant(db, ids[0])}
    assert db.commits - commits == 1
    assert committed == [set(ids)]
    async with db.read() as tx:
        rows = list(await tx.scalars(select(Session).where(Session.id.in_(ids))))
        events = list(await tx.scalars(select(Event).where(Event.type == "session.status")))
    assert {(r.status, r.phone, r.updated_at) for r in rows} == {("connected", "5511", later)}
    by_session = {}
    for event in events:
        by_session.setdefault(event.session_id, []).append(
            (event.data["previous"], event.data["status"], event.data["phone"])
        )
    assert by_session[ids[0]] == [
        ("stopped", "reconnecting", None),
        ("reconnecting", "connected", "5511"),
    ]
    assert len(by_session) == 20


async def test_a_deleted_session_is_not_found_and_others_commit(db: Database) -> None:
    kept = await _session(db, "kept")
    kind = StatusChangeKind(lambda ids: None)
    gone = db.batches.enqueue(kind, StatusChange("ses_gone", SessionStatus.CONNECTED, None, NOW))
    ok = db.batches.enqueue(kind, StatusChange(kept, SessionStatus.CONNECTED, None, NOW))
    with pytest.raises(NotFound):
        await gone
    assert await ok
    async with db.read() as tx:
        assert (await sessions.get_session(tx, kept, None)).status == "connected"


async def _tenant(db: Database, session_id: str) -> str:
    async with db.read() as tx:
        return (await sessions.get_session(tx, session_id, None)).tenant_id
