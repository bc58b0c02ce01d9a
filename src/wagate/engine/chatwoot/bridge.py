"""Each Chatwoot link's mirror, fed from the event log: durable, in order, one worker at a
time.

Every link has a cursor in the event log (``sink_cursors``, ``chatwoot:<session>``), made
when the link is, and a lease on it: a :class:`~wagate.events.follower.LogFollower`
reads the session's message events after the cursor, posts each into Chatwoot
(:mod:`.mirror`) and moves the cursor past it. A restart, a crash or another worker
taking over continues from the cursor, so nothing is skipped; an event posted just before
a crash may be posted again.

What is mirrored: messages received (the contact's, incoming; those typed on the
phone, outgoing), messages sent through wagate (outgoing, the assistant's included)
except the agents' own replies from Chatwoot, the receipts of sent messages as their
ticks (delivered, read, failed), and a private note when a message could not be
delivered. While Chatwoot is away (no answer, 5xx, 429) the event is tried
again, with backoff on the clock, and nothing after it moves; an event Chatwoot refuses
(4xx) is dead-lettered (``source`` ``chatwoot``) and skipped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import structlog

from wagate.domain import Clock, wait_for
from wagate.engine.chatwoot.api import ChatwootApi
from wagate.engine.chatwoot.mirror import Mirror
from wagate.events import EventBus, LogHorizon, SecretBox
from wagate.events.follower import FollowerSpec, LogFollower
from wagate.store import Database
from wagate.store.media import MediaStore
from wagate.store.models import Event
from wagate.store.models_engine import ChatwootLink
from wagate.store.repositories import chatwoot, messages

log = structlog.get_logger("wagate.chatwoot")

TYPES = ["message.received", "message.sent", "message.status"]
STOP_WAIT_S = 10.0
AGENT_KEY = "chatwoot:"  # the idempotency key prefix of agents' replies


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
        self._running: dict[str, tuple[LinkRunner, asyncio.Task[None]]] = {}
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
        running, self._running = list(self._running.values()), {}
        await _stop(running)

    async def _sync(self) -> None:
        async with self.db.read() as tx:
            links = {link.session_id: link for link in await chatwoot.enabled_links(tx)}
        ended = []
        for session_id, (runner, task) in list(self._running.items()):
            current = links.get(session_id)
            if task.done() or current is None or current.updated_at != runner.link.updated_at:
                ended.append(self._running.pop(session_id))
        await _stop(ended)
        for session_id, link in links.items():
            if session_id not in self._running:
                runner = LinkRunner(self, link)
                task = asyncio.get_running_loop().create_task(
                    runner.run(), name=f"chatwoot:{session_id}"
                )
                self._running[session_id] = (runner, task)


async def _stop(running: list[tuple[LinkRunner, asyncio.Task[None]]]) -> None:
    """Stop runners between two events; cancel only those that do not stop in time (a
    Chatwoot call that hangs)."""
    for runner, _ in running:
        runner.follower.stop()
    tasks = [task for _, task in running]
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late)


class LinkRunner:
    """One link: its mirror, fed by a follower of its session's message events."""

    def __init__(self, bridge: ChatwootBridge, link: ChatwootLink) -> None:
        self.bridge = bridge
        self.link = link
        self.mirror = Mirror(
            db=bridge.db,
            clock=bridge.clock,
            media=bridge.media,
            link=link,
            api=bridge.api_for(link),
        )
        spec = FollowerSpec(
            name=chatwoot.sink_name(link.session_id),
            source="chatwoot",
            types=TYPES,
            session_id=link.session_id,
        )
        self.follower = LogFollower(
            spec,
            self._one,
            db=bridge.db,
            clock=bridge.clock,
            bus=bridge.bus,
            horizon=bridge.horizon,
            worker_id=bridge.worker_id,
            lease_ttl_s=bridge.lease_ttl_s,
            poll_s=bridge.poll_s,
        )

    async def run(self) -> None:
        await self.follower.run()

    async def _one(self, row: Event) -> None:
        data: dict[str, Any] = row.data
        if row.type == "message.received":
            await self.mirror.post(data, outgoing=bool(data.get("from_me")))
        elif row.type == "message.sent":
            if not await self._from_an_agent(str(data.get("id"))):
                await self.mirror.post(data, outgoing=True)
        elif row.type == "message.status":
            await self.mirror.tick(data)
            if data.get("status") == "failed":
                error = data.get("error") or {}
                await self.mirror.note(
                    data,
                    f"⚠️ Not delivered on WhatsApp: {error.get('message') or error.get('code')}",
                )

    async def _from_an_agent(self, message_id: str) -> bool:
        async with self.bridge.db.read() as tx:
            key = await messages.idempotency_key_of(tx, message_id)
        return (key or "").startswith(AGENT_KEY)
