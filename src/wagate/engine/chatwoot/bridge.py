"""Each Chatwoot link's mirror, fed from the event log: durable, in order, one worker at a
time.

Every link has a cursor in the event log (``sink_cursors``, ``chatwoot:<session>``), made
when the link is, and a lease on it: the worker holding the lease reads the session's
message events after the cursor, posts each into Chatwoot (:mod:`.mirror`) and moves the
cursor past it. A restart, a crash or another worker taking over continues from the
cursor, so nothing is skipped; an event posted just before a crash may be posted again.

What is mirrored: messages received (the contact's, incoming; those typed on the
phone, outgoing), messages sent through wagate (outgoing, the assistant's included)
except the agents' own replies from Chatwoot, and a private note when an agent's reply
could not be delivered. While Chatwoot is away (no answer, 5xx, 429) the event is tried
again, with backoff on the clock, and nothing after it moves; an event Chatwoot refuses
(4xx) is dead-lettered (``source`` ``chatwoot``) and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import structlog

from wagate.domain import Clock, RetryStrategy, wait_for
from wagate.engine.chatwoot.api import ChatwootApi, ChatwootError, ChatwootUnavailable
from wagate.engine.chatwoot.mirror import Mirror
from wagate.events import EventBus, LogHorizon, SecretBox
from wagate.store import Database
from wagate.store.media import MediaStore
from wagate.store.models import Event
from wagate.store.models_engine import ChatwootLink
from wagate.store.repositories import chatwoot, events, messages, sinks

log = structlog.get_logger("wagate.chatwoot")

TYPES = ["message.received", "message.sent", "message.status"]
AGENT_KEY = "chatwoot:"  # the idempotency key prefix of agents' replies
BATCH = 50


def token_context(session_id: str) -> str:
    """What a link's Chatwoot token is sealed to."""
    return f"chatwoot-token:{session_id}"


class ChatwootBridge:
    """The links' mirrors of one process: one task per enabled link, each holding (or
    waiting for) its link's lease."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        bus: EventBus,
        horizon: LogHorizon,
        box: SecretBox,
        media: MediaStore,
        http: httpx.AsyncClient,
        worker_id: str,
        lease_ttl_s: float,
        poll_s: float,
        retry: RetryStrategy | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.bus = bus
        self.horizon = horizon
        self.box = box
        self.media = media
        self.http = http
        self.worker_id = worker_id
        self.lease_ttl_s = lease_ttl_s
        self.poll_s = poll_s
        # while Chatwoot is away: waits on the clock, no jitter (one sender per link)
        self.retry = retry or RetryStrategy(
            max_attempts=1_000_000, schedule=(1, 2, 5, 15, 30, 60), jitter=0
        )
        self._tasks: dict[str, tuple[asyncio.Task[None], ChatwootLink]] = {}
        self._wake = asyncio.Event()

    def api_for(self, link: ChatwootLink) -> ChatwootApi:
        token = self.box.open(link.token, token_context(link.session_id))
        return ChatwootApi(self.http, link.url, link.account_id, token)

    def reconfigure(self) -> None:
        """A link changed through the API: look at the links now."""
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                try:
                    await self._sync()
                except Exception as exc:
                    log.error("chatwoot links could not be read", error=repr(exc))
                await wait_for(self._wake, self.clock, real_timeout=self.poll_s)
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        tasks = [task for task, _ in self._tasks.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _sync(self) -> None:
        async with self.db.read() as tx:
            links = {link.session_id: link for link in await chatwoot.enabled_links(tx)}
        for session_id, (task, known) in list(self._tasks.items()):
            current = links.get(session_id)
            if task.done() or current is None or current.updated_at != known.updated_at:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                del self._tasks[session_id]
        for session_id, link in links.items():
            if session_id not in self._tasks:
                runner = LinkRunner(self, link)
                task = asyncio.get_running_loop().create_task(
                    runner.run(), name=f"chatwoot:{session_id}"
                )
                self._tasks[session_id] = (task, link)


class LinkRunner:
    """One link: hold its lease and mirror its session's events from the cursor."""

    def __init__(self, bridge: ChatwootBridge, link: ChatwootLink) -> None:
        self.bridge = bridge
        self.link = link
        self.name = chatwoot.sink_name(link.session_id)
        self.mirror = Mirror(
            db=bridge.db,
            clock=bridge.clock,
            media=bridge.media,
            link=link,
            api=bridge.api_for(link),
        )

    async def run(self) -> None:
        bridge = self.bridge
        waiter = bridge.bus.subscribe()
        try:
            while True:
                cursor = await self._claim()
                if cursor is None:  # another worker mirrors this link
                    await wait_for(asyncio.Event(), bridge.clock, timeout=bridge.lease_ttl_s / 3)
                    continue
                upto = await bridge.horizon.refresh()
                async with bridge.db.read() as tx:
                    rows = await events.list_events(
                        tx,
                        tenant_id=None,
                        session_id=self.link.session_id,
                        after=cursor,
                        limit=BATCH,
                        types=TYPES,
                        upto=upto,
                    )
                moved = await self._mirror(rows)
                if not moved:
                    return  # the lease was lost: the runner is started again by the bridge
                if len(rows) < BATCH:
                    waiter.clear()
                    await wait_for(
                        waiter,
                        bridge.clock,
                        timeout=bridge.lease_ttl_s / 3,
                        real_timeout=bridge.poll_s,
                    )
        finally:
            bridge.bus.unsubscribe(waiter)
            with contextlib.suppress(Exception):
                async with bridge.db.transaction() as tx:
                    await sinks.release(tx, self.name, bridge.worker_id)

    async def _claim(self) -> int | None:
        bridge = self.bridge
        async with bridge.db.transaction() as tx:
            return await sinks.claim(
                tx, self.name, bridge.worker_id, bridge.clock.now(), bridge.lease_ttl_s
            )

    async def _mirror(self, rows: list[Event]) -> bool:
        """Post each event, moving the cursor past it; False when the lease was lost."""
        bridge = self.bridge
        for row in rows:
            attempt = 0
            while True:
                try:
                    await self._one(row)
                    break
                except ChatwootUnavailable as exc:
                    attempt += 1
                    delay = bridge.retry.base_delay(attempt)
                    log.warning(
                        "chatwoot is away; trying again",
                        session_id=self.link.session_id,
                        error=exc.message,
                        retry_in_s=delay,
                    )
                    if not await self._advance(row.seq - 1):  # renew the lease while waiting
                        return False
                    await wait_for(asyncio.Event(), bridge.clock, timeout=delay)
                except Exception as exc:  # refused (4xx) or a bug: kept, then skipped
                    await self._dead_letter(row, exc)
                    break
            if not await self._advance(row.seq):
                return False
        if not rows:
            return await self._advance(None)
        return True

    async def _advance(self, seq: int | None) -> bool:
        bridge = self.bridge
        async with bridge.db.transaction() as tx:
            if seq is None:  # renew only
                return (
                    await sinks.claim(
                        tx, self.name, bridge.worker_id, bridge.clock.now(), bridge.lease_ttl_s
                    )
                    is not None
                )
            return await sinks.advance(
                tx, self.name, bridge.worker_id, seq, bridge.clock.now(), bridge.lease_ttl_s
            )

    async def _one(self, row: Event) -> None:
        data: dict[str, Any] = row.data
        if row.type == "message.received":
            await self.mirror.post(data, outgoing=bool(data.get("from_me")))
        elif row.type == "message.sent":
            if not await self._from_an_agent(str(data.get("id"))):
                await self.mirror.post(data, outgoing=True)
        elif row.type == "message.status" and data.get("status") == "failed":
            error = data.get("error") or {}
            await self.mirror.note(
                data,
                f"⚠️ Not delivered on WhatsApp: {error.get('message') or error.get('code')}",
            )

    async def _from_an_agent(self, message_id: str) -> bool:
        async with self.bridge.db.read() as tx:
            try:
                message = await messages.get_message(tx, message_id, None)
            except Exception:
                return False
        return (message.idempotency_key or "").startswith(AGENT_KEY)

    async def _dead_letter(self, row: Event, exc: Exception) -> None:
        reason = exc.message if isinstance(exc, ChatwootError) else repr(exc)
        log.error(
            "chatwoot refused an event; skipped",
            session_id=self.link.session_id,
            event_id=row.id,
            error=reason,
        )
        async with self.bridge.db.transaction() as tx:
            await events.add_dead_letter(
                tx,
                source="chatwoot",
                session_id=self.link.session_id,
                payload={"event_id": row.id, "type": row.type, "data": row.data},
                reason=reason[:1000],
                now=self.bridge.clock.now(),
            )
