"""Idempotency-Key on POST /v1/sessions/{id}/messages (the IETF idempotency-key draft)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.api.helpers import connected_session, create_session, wait_message
from tests.support.server import RunningServer, make_settings, running_server
from wagate.domain import FakeClock, OutboundMessageRequest
from wagate.outbox.accept import request_hash
from wagate.store.models import IdempotencyKey, Message
from wagate.store.repositories import idempotency

CONTACT = "5511988887777"


async def _idle_session(client: httpx.AsyncClient, name: str = "idem") -> str:
    """A session that is not started: acceptance does not need a connection."""
    return str((await create_session(client, name, start=False))["id"])


async def _post(
    client: httpx.AsyncClient, session_id: str, body: dict[str, Any], key: str | None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await client.post(f"/v1/sessions/{session_id}/messages", json=body, headers=headers)


async def _key_row(server: RunningServer, session_id: str, key: str) -> IdempotencyKey | None:
    async with server.services.db.read() as tx:
        return await idempotency.get_key(tx, session_id, key)


async def _count_messages(server: RunningServer, session_id: str) -> int:
    async with server.services.db.read() as tx:
        query = select(func.count()).select_from(Message).where(Message.session_id == session_id)
        return int((await tx.execute(query)).scalar_one())


async def test_replay_returns_the_original_with_a_header(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    body = {"to": CONTACT, "text": "only once"}
    first = await _post(admin, session["id"], body, "order-1")
    assert first.status_code == 202, first.text
    assert "idempotent-replayed" not in first.headers
    again = await _post(admin, session["id"], body, "order-1")
    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    await wait_message(admin, first.json()["id"], "sent")
    later = await _post(admin, session["id"], body, "order-1")
    assert later.json()["id"] == first.json()["id"]
    assert later.json()["status"] == "sent"  # the message as it is now
    assert [r.message_id for r in server.network.sent(session["id"])] == [first.json()["id"]]
    row = await _key_row(server, session["id"], "order-1")
    assert row is not None
    assert row.message_id == first.json()["id"]
    assert row.expires_at >= server.clock.now() + timedelta(hours=23, minutes=59)


async def test_same_key_with_another_body_is_refused(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await _idle_session(admin)
    first = await _post(admin, sid, {"to": CONTACT, "text": "a"}, "k")
    assert first.status_code == 202
    other = await _post(admin, sid, {"to": CONTACT, "text": "b"}, "k")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    same_but_explicit_nulls = await _post(
        admin, sid, {"to": CONTACT, "text": "a", "humanize": None, "type": "text"}, "k"
    )
    assert same_but_explicit_nulls.status_code == 202
    assert same_but_explicit_nulls.json()["id"] == first.json()["id"]
    assert await _count_messages(server, sid) == 1


async def test_keys_are_per_session(server: RunningServer, admin: httpx.AsyncClient) -> None:
    one = await _idle_session(admin, "one")
    two = await _idle_session(admin, "two")
    body = {"to": CONTACT, "text": "hello"}
    a = await _post(admin, one, body, "shared")
    b = await _post(admin, two, body, "shared")
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] != b.json()["id"]


async def test_in_flight_key_is_409_until_it_goes_stale(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await _idle_session(admin)
    body = {"to": CONTACT, "text": "racing"}
    fingerprint = request_hash(OutboundMessageRequest.model_validate(body))
    async with server.services.db.transaction() as tx:  # a first request, still running
        claim = await idempotency.claim(
            tx,
            session_id=sid,
            key="busy",
            request_hash=fingerprint,
            now=server.clock.now(),
            ttl_s=86400,
            stale_after_s=60,
        )
    assert claim.state is idempotency.ClaimState.CLAIMED
    busy = await _post(admin, sid, body, "busy")
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "idempotency_key_in_flight"
    different = await _post(admin, sid, {"to": CONTACT, "text": "else"}, "busy")
    assert different.status_code == 422
    assert different.json()["error"]["code"] == "idempotency_key_reused"
    await server.advance(30)
    assert (await _post(admin, sid, body, "busy")).status_code == 409
    assert await _count_messages(server, sid) == 0

    await server.advance(31)  # the first request's process is presumed dead
    taken = await _post(admin, sid, body, "busy")
    assert taken.status_code == 202, taken.text
    assert "idempotent-replayed" not in taken.headers
    row = await _key_row(server, sid, "busy")
    assert row is not None
    assert row.message_id == taken.json()["id"]
    async with server.services.db.transaction() as tx:  # the dead request cannot complete now
        assert not await idempotency.complete(
            tx,
            session_id=sid,
            key="busy",
            claimed_at=claim.claimed_at,
            message_id="msg_other",
            now=server.clock.now(),
            ttl_s=86400,
        )
        assert not await idempotency.release(
            tx, session_id=sid, key="busy", claimed_at=claim.claimed_at
        )
    replay = await _post(admin, sid, body, "busy")
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == taken.json()["id"]


async def test_a_failed_request_releases_its_key(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await _idle_session(admin)
    bad = await _post(
        admin, sid, {"to": CONTACT, "text": "re", "reply_to": "msg_doesnotexist"}, "retry-me"
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "unknown_message"
    assert await _key_row(server, sid, "retry-me") is None
    bad_destination = await _post(admin, sid, {"to": "not a phone", "text": "x"}, "retry-me")
    assert bad_destination.json()["error"]["code"] == "invalid_destination"
    assert await _key_row(server, sid, "retry-me") is None
    fixed = await _post(admin, sid, {"to": CONTACT, "text": "re"}, "retry-me")
    assert fixed.status_code == 202, fixed.text
    assert "idempotent-replayed" not in fixed.headers


async def test_concurrent_requests_with_one_key_create_one_message(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await _idle_session(admin)
    body = {"to": CONTACT, "text": "at once"}
    responses = await asyncio.gather(*(_post(admin, sid, body, "same") for _ in range(6)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {202, 409}, [r.text for r in responses]
    accepted = [r for r in responses if r.status_code == 202]
    assert accepted
    assert len({r.json()["id"] for r in accepted}) == 1
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json()["error"]["code"] == "idempotency_key_in_flight"
    assert await _count_messages(server, sid) == 1


async def test_key_header_is_limited(server: RunningServer, admin: httpx.AsyncClient) -> None:
    sid = await _idle_session(admin)
    too_long = await _post(admin, sid, {"to": CONTACT, "text": "x"}, "k" * 256)
    assert too_long.status_code == 422
    assert too_long.json()["error"]["code"] == "validation_error"


@pytest.fixture
async def short_ttl_server(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[RunningServer]:
    """Keys remembered for 60 s; no duplicate window, so the same body may be sent again."""
    settings = make_settings(db_url, tmp_path / "data", idempotency_ttl_s=60, duplicate_window_s=0)
    async with running_server(settings, clock) as running:
        yield running


async def test_an_expired_key_is_replaced(short_ttl_server: RunningServer) -> None:
    server = short_ttl_server
    async with server.client() as admin:
        sid = await _idle_session(admin)
        body = {"to": CONTACT, "text": "monthly reminder"}
        first = await _post(admin, sid, body, "reminder")
        await server.advance(59)
        assert (await _post(admin, sid, body, "reminder")).json()["id"] == first.json()["id"]
        await server.advance(2)
        second = await _post(admin, sid, body, "reminder")
        assert second.status_code == 202, second.text
        assert "idempotent-replayed" not in second.headers
        assert second.json()["id"] != first.json()["id"]
        replay = await _post(admin, sid, body, "reminder")
        assert replay.json()["id"] == second.json()["id"]
        async with server.services.db.read() as tx:
            rows = list(await tx.scalars(select(Message).where(Message.session_id == sid)))
        keys = {row.id: row.idempotency_key for row in rows}
        assert keys == {first.json()["id"]: None, second.json()["id"]: "reminder"}


async def test_purge_expired_removes_old_keys(short_ttl_server: RunningServer) -> None:
    server = short_ttl_server
    async with server.client() as admin:
        sid = await _idle_session(admin)
        body = {"to": CONTACT, "text": "purge me"}
        first = await _post(admin, sid, body, "old")
        async with server.services.db.transaction() as tx:
            await idempotency.claim(
                tx,
                session_id=sid,
                key="abandoned",
                request_hash="0" * 64,
                now=server.clock.now(),
                ttl_s=60,
                stale_after_s=60,
            )
        await server.advance(30)
        fresh = await _post(admin, sid, {"to": CONTACT, "text": "fresh"}, "fresh")
        async with server.services.db.transaction() as tx:
            assert await idempotency.purge_expired(tx, server.clock.now()) == 0
        await server.advance(31)
        # the outbox supervisor purges once a minute too, so it may have got there first
        async with server.services.db.transaction() as tx:
            assert await idempotency.purge_expired(tx, server.clock.now()) in (0, 1, 2)
        assert await _key_row(server, sid, "old") is None
        assert await _key_row(server, sid, "abandoned") is None
        assert await _key_row(server, sid, "fresh") is not None
        async with server.services.db.read() as tx:
            old = (await tx.scalars(select(Message).where(Message.id == first.json()["id"]))).one()
            assert old.idempotency_key is None
        again = await _post(admin, sid, body, "old")
        assert again.status_code == 202
        assert again.json()["id"] not in (first.json()["id"], fresh.json()["id"])
