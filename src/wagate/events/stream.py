"""The live stream: the event log as server-sent events (``GET /v1/events/stream``).

Each event is one SSE message whose ``id:`` is the event's cursor and whose
``data:`` is the same JSON object as an item of ``GET /v1/events``. A client
that reconnects with ``Last-Event-ID`` (browsers do this by themselves)
continues after the last event it received; without it (and without
``?after=``) the stream starts at the end of the log. A comment line is sent
every :data:`KEEPALIVE_S` of quiet so proxies keep the connection open.

A stream ends when the client goes away or when :meth:`EventStreams.close`
is called (the app does so when it starts shutting down), with a clean end
of the response rather than a cut connection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from wagate.domain import Clock, wait_for
from wagate.events.bus import EventBus
from wagate.events.horizon import LogHorizon
from wagate.events.media_out import OutgoingMedia
from wagate.store import Database
from wagate.store.models import Event
from wagate.store.repositories import events as event_log
from wagate.store.serialize import iso

KEEPALIVE_S = 15.0
PAGE = 500
RETRY_MS = 3000


def event_json(event: Event) -> dict[str, Any]:
    """An event as the API shows it (pull and stream alike)."""
    return {
        "id": event.id,
        "cursor": str(event.seq),
        "type": event.type,
        "session_id": event.session_id,
        "timestamp": iso(event.created_at),
        "data": event.data,
    }


def sse_message(event: Event, media: OutgoingMedia | None = None) -> str:
    """One event on the stream; ``media``: its media paths become signed links."""
    payload = event_json(event)
    if media is not None:
        payload = media.event(payload)
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.seq}\ndata: {data}\n\n"


ADMIN = "admin"  # the key of streams opened with the admin key


@dataclass(eq=False)
class _Live:
    """One open stream: whose it is, and how to end it from outside."""

    key: str  # the API key's id, or "admin"
    tenant_id: str | None
    waiter: asyncio.Event
    ended: bool = False


StillValid = Callable[[], Awaitable[bool]]


class EventStreams:
    """Serves the live streams of one process and ends them all on :meth:`close`.

    A stream ends when its key is revoked: at once when the key is revoked (or its
    tenant deleted) through this process (:meth:`end_key`, :meth:`end_tenant`), and at
    its next keep-alive otherwise (``still_valid``, checked against the database: a
    revocation made on another worker). At most ``max_per_key`` streams are open per
    key in this process.
    """

    def __init__(
        self,
        *,
        db: Database,
        bus: EventBus,
        horizon: LogHorizon,
        clock: Clock,
        poll_s: float,
        keepalive_s: float = KEEPALIVE_S,
        max_per_key: int = 10,
        media: OutgoingMedia | None = None,
    ) -> None:
        self.db = db
        self.media = media
        self.bus = bus
        self.horizon = horizon
        self.clock = clock
        self.poll_s = poll_s
        self.keepalive_s = keepalive_s
        self.max_per_key = max_per_key
        self.open = 0
        self._live: dict[str, set[_Live]] = {}
        self._closing = asyncio.Event()

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def close(self) -> None:
        """End every stream (and refuse new ones): the server is going away."""
        self._closing.set()
        for streams in self._live.values():
            for stream in streams:
                stream.waiter.set()

    def open_for(self, key_id: str | None) -> int:
        """How many streams this process has open for a key (None: the admin key)."""
        return len(self._live.get(key_id or ADMIN, ()))

    def end_key(self, key_id: str) -> None:
        """End the streams of a key that was just revoked."""
        self._end(stream for stream in self._live.get(key_id, ()))

    def end_keys(self, key_ids: list[str]) -> None:
        for key_id in key_ids:
            self.end_key(key_id)

    def end_tenant(self, tenant_id: str) -> None:
        """End the streams of a tenant that was just deleted."""
        self._end(s for streams in self._live.values() for s in streams if s.tenant_id == tenant_id)

    @staticmethod
    def _end(streams: Iterable[_Live]) -> None:
        for stream in list(streams):
            stream.ended = True
            stream.waiter.set()

    async def follow(
        self,
        *,
        tenant_id: str | None,
        after: int | None,
        session_id: str | None = None,
        types: list[str] | None = None,
        key_id: str | None = None,
        still_valid: StillValid | None = None,
    ) -> AsyncIterator[str]:
        """SSE text, message by message, until the stream is closed or its key revoked."""
        waiter = self.bus.subscribe()
        live = _Live(key_id or ADMIN, tenant_id, waiter)
        self._live.setdefault(live.key, set()).add(live)
        cursor: int | None = None
        try:
            cursor = after if after is not None else await self.horizon.refresh()
            self.open += 1  # counted once positioned: what is committed from now on is sent
            yield f"retry: {RETRY_MS}\n\n"
            quiet_since = self.clock.now()
            while not self.closing and not live.ended:
                waiter.clear()
                horizon = await self.horizon.refresh()
                if horizon > cursor:
                    async with self.db.read() as tx:
                        rows = await event_log.list_events(
                            tx,
                            tenant_id=tenant_id,
                            after=cursor,
                            upto=horizon,
                            limit=PAGE,
                            session_id=session_id,
                            types=types,
                        )
                    for row in rows:
                        yield sse_message(row, self.media)
                    cursor = rows[-1].seq if len(rows) == PAGE else horizon
                    if rows:
                        quiet_since = self.clock.now()
                    if len(rows) == PAGE:
                        continue
                keepalive_at = quiet_since + timedelta(seconds=self.keepalive_s)
                left = (keepalive_at - self.clock.now()).total_seconds()
                if left <= 0:
                    if still_valid is not None and not await still_valid():
                        break  # revoked on another worker
                    yield ": keep-alive\n\n"
                    quiet_since = self.clock.now()
                    continue
                await wait_for(
                    waiter,
                    self.clock,
                    timeout=min(self.poll_s, left),
                    real_timeout=self.horizon.pending_gap_s(),
                )
        finally:
            if cursor is not None:
                self.open -= 1
            streams = self._live.get(live.key, set())
            streams.discard(live)
            if not streams:
                self._live.pop(live.key, None)
            self.bus.unsubscribe(waiter)


class EventStreamResponse(StreamingResponse):
    """A streaming response that always notices the client leaving.

    Starlette stops watching for disconnects under ASGI 2.4 servers and relies
    on a failed write instead, which a quiet stream may never attempt; this
    response watches in every case and closes the generator when it stops.
    """

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[str]) -> None:
        super().__init__(
            content,
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )
        self._source = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.ensure_future(self.stream_response(send))
        watching = asyncio.ensure_future(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait({streaming, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (streaming, watching):
                task.cancel()
            await asyncio.gather(streaming, watching, return_exceptions=True)
            aclose = getattr(self._source, "aclose", None)
            if aclose is not None:
                with suppress(Exception):
                    await aclose()
        failure = None
        if streaming.done() and not streaming.cancelled():
            failure = streaming.exception()
        if failure is not None:
            raise failure
