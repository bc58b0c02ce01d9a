"""The live stream: server-sent events that resume from Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from tests.api.helpers import create_session
from tests.events.support import advance_until, emit, settle, tenant_key
from tests.support.server import RunningServer, make_settings, running_server
from wagate.domain import FakeClock
from wagate.store.models import ApiKey


@dataclass
class Stream:
    messages: list[dict[str, Any]] = field(default_factory=list)  # {"id", "data"}
    comments: list[str] = field(default_factory=list)
    retry: str | None = None
    status: int | None = None
    content_type: str | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None

    @property
    def ids(self) -> list[str]:
        return [m["data"]["id"] for m in self.messages]


@asynccontextmanager
async def follow(
    client: httpx.AsyncClient, params: dict[str, Any] | None = None, **headers: str
) -> AsyncIterator[Stream]:
    stream = Stream()

    async def read() -> None:
        try:
            async with client.stream(
                "GET", "/v1/events/stream", params=params, headers=headers, timeout=None
            ) as response:
                stream.status = response.status_code
                stream.content_type = response.headers.get("content-type")
                fields: dict[str, str] = {}
                async for line in response.aiter_lines():
                    if line.startswith(":"):
                        stream.comments.append(line)
                    elif line:
                        name, _, value = line.partition(": ")
                        fields[name] = value
                    elif "retry" in fields:
                        stream.retry = fields.pop("retry")
                    elif fields:
                        data = json.loads(fields["data"])
                        stream.messages.append({"id": fields["id"], "data": data})
                        fields = {}
        except Exception as exc:  # recorded for the test to assert on
            stream.error = exc
        finally:
            stream.ended.set()

    task = asyncio.create_task(read())
    try:
        yield stream
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def has(stream: Stream, n: int):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return len(stream.messages) >= n

    return check


async def test_live_events_then_resume_from_last_event_id(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    await emit(server, 2, type="old")
    async with follow(admin) as live:
        await settle(lambda: _opened(server))
        first = await emit(server, 3)
        await settle(has(live, 3))
        assert live.status == 200
        assert (live.content_type or "").startswith("text/event-stream")
        assert live.retry == "3000"
        assert live.ids == first  # starts at the end of the log: the old ones are not sent
        pulled = (await admin.get("/v1/events", params={"type": "message.received"})).json()
        assert [m["data"] for m in live.messages] == pulled["items"]
        assert [m["id"] for m in live.messages] == [e["cursor"] for e in pulled["items"]]
        last_seen = live.messages[1]["id"]
    await settle(lambda: _closed(server))

    more = await emit(server, 2)
    async with follow(admin, **{"Last-Event-ID": last_seen}) as resumed:
        await settle(has(resumed, 3))
        assert resumed.ids == [first[2], *more]
    async with follow(admin, {"after": last_seen}) as by_query:
        await settle(has(by_query, 3))
        assert by_query.ids == [first[2], *more]


async def test_filters_and_tenants(server: RunningServer, admin: httpx.AsyncClient) -> None:
    tenant_a, key_a = await tenant_key(admin, "a")
    async with server.client(key_a) as a:
        session = await create_session(a, "shop", start=False)
        async with (
            follow(a, {"after": "0", "type": "message.status"}) as statuses,
            follow(a, {"after": "0", "session_id": session["id"]}) as by_session,
            follow(a, {"after": "0"}) as everything,
        ):
            await emit(server, 2, type="message.status")  # the admin's tenant, not a's
            mine = await emit(server, 1, type="message.status", tenant_id=tenant_a)
            other = await emit(
                server, 1, type="message.sent", tenant_id=tenant_a, session_id=session["id"]
            )
            # a last event every stream wants: once it arrived, whatever the stream was
            # going to send before it has arrived too (the log is read in order)
            marker = await emit(
                server, 1, type="message.status", tenant_id=tenant_a, session_id=session["id"]
            )
            await settle(lambda: _has_id(statuses, marker[0]))
            await settle(lambda: _has_id(by_session, marker[0]))
            await settle(lambda: _has_id(everything, marker[0]))
            assert statuses.ids == mine + marker  # not the admin tenant's, not message.sent
            assert by_session.ids[-2:] == other + marker  # session.created, then these
            assert by_session.messages[0]["data"]["type"] == "session.created"
            assert everything.ids[-3:] == mine + other + marker


async def test_keep_alive_comment_on_a_quiet_stream(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    async with follow(admin) as quiet:
        await settle(lambda: _opened(server))
        started = server.clock.now()
        await advance_until(server, lambda: _comments(quiet, 1), step=1.0, limit=30.0)
        assert (server.clock.now() - started).total_seconds() >= 15
        assert quiet.comments == [": keep-alive"]
        assert quiet.messages == []


async def test_a_client_leaving_ends_its_stream(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    async with follow(admin):
        await settle(lambda: _opened(server))
        assert server.services.streams.open == 1
    await settle(lambda: _closed(server))
    await emit(server, 1)  # nothing left to write to
    await asyncio.sleep(0.05)
    assert server.services.streams.open == 0


async def test_closing_the_streams_ends_them_cleanly(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    async with follow(admin) as one, follow(admin, {"after": "0"}) as two:
        await settle(lambda: _opened(server, 2))
        server.services.streams.close()  # what the app does when it starts shutting down
        await asyncio.wait_for(one.ended.wait(), 5)
        await asyncio.wait_for(two.ended.wait(), 5)
        assert (one.error, two.error) == (None, None)  # a complete response, not a cut
    assert server.services.streams.open == 0


async def test_bad_cursor(server: RunningServer, admin: httpx.AsyncClient) -> None:
    response = await admin.get("/v1/events/stream", headers={"Last-Event-ID": "abc"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_cursor"
    async with server.client(key=None) as anonymous:
        assert (await anonymous.get("/v1/events/stream")).status_code == 401


async def _opened(server: RunningServer, n: int = 1) -> bool:
    return server.services.streams.open >= n


async def _closed(server: RunningServer) -> bool:
    return server.services.streams.open == 0


async def _comments(stream: Stream, n: int) -> bool:
    return len(stream.comments) >= n


async def test_revoking_a_key_ends_its_streams_at_once(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    tenant_id, key = await tenant_key(admin, "acme")
    _, other_key = await tenant_key(admin, "globex")
    async with (
        server.client(key) as acme,
        server.client(other_key) as globex,
        follow(acme) as revoked,
        follow(globex) as kept,
    ):
        await settle(lambda: _opened(server, 2))
        [row] = (await admin.get(f"/v1/admin/tenants/{tenant_id}/keys")).json()["items"]
        assert (await admin.delete(f"/v1/admin/keys/{row['id']}")).status_code == 200
        await asyncio.wait_for(revoked.ended.wait(), 5)  # no clock moved: at once
        assert revoked.error is None
        assert not kept.ended.is_set()
        assert server.services.streams.open == 1


async def test_a_key_revoked_elsewhere_ends_its_stream_at_the_next_keep_alive(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    _, key = await tenant_key(admin, "acme")
    async with server.client(key) as acme, follow(acme) as stream:
        await settle(lambda: _opened(server))
        async with server.services.db.transaction() as tx:  # as another worker would
            await tx.execute(update(ApiKey).values(revoked_at=server.clock.now()))
        await advance_until(server, lambda: _ended(stream), step=1.0, limit=30.0)
        assert stream.comments == []  # the keep-alive was not sent: the stream ended instead
    assert server.services.streams.open == 0


async def test_a_key_gets_a_bounded_number_of_streams(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(db_url, tmp_path / "data", streams_per_key=2)
    async with running_server(settings, clock) as running, running.client() as admin:
        async with follow(admin), follow(admin):
            await settle(lambda: _opened(running, 2))
            third = await admin.get("/v1/events/stream")
            assert third.status_code == 429
            assert third.json()["error"]["code"] == "too_many_streams"
        await settle(lambda: _closed(running))
        async with follow(admin) as again:
            await settle(lambda: _opened(running))
            assert again.status == 200


async def _has_id(stream: Stream, event_id: str) -> bool:
    return event_id in stream.ids


async def _ended(stream: Stream) -> bool:
    return stream.ended.is_set()
