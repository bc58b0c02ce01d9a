"""The conversation engine of one process: read the log, fire timers, answer batches.

One loop per process. On each pass it renews (or takes) the lease on the
engine's log cursor; the holder applies new events (``ingest.py``) and fires
due timers (``timers.py``); every worker claims ready batches up to its
concurrency and answers them (``worker.py``). The loop wakes when this
process commits events, when a batch ends, when the API changes a chat, at
the next timer (on the injected clock), and every ``WAGATE_ENGINE_POLL_S`` of
real time for other workers' work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog

from wagate.domain import Clock, normalize_destination, wait_for
from wagate.engine import assistants, takeover, timeline
from wagate.engine.brains import Brains
from wagate.engine.ingest import LogReader
from wagate.engine.state import PauseReason, conversation_json
from wagate.engine.timers import Timers
from wagate.engine.worker import BatchWorker
from wagate.events import EventBus, LogHorizon, SecretBox
from wagate.outbox import OutboundAcceptor
from wagate.store import Database
from wagate.store.models import Session
from wagate.store.models_engine import EngineBatch
from wagate.store.repositories import conversations, engine_work

log = structlog.get_logger("wagate.engine")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    poll_s: float = 1.0
    lease_ttl_s: float = 30.0
    concurrency: int = 64  # batches answered at once by this worker
    allow_private_urls: bool = False
    media_max_bytes: int = 16 * 1024 * 1024


class ConversationEngine:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        bus: EventBus,
        horizon: LogHorizon,
        acceptor: OutboundAcceptor,
        box: SecretBox,
        http: httpx.AsyncClient,
        settings: EngineSettings,
        worker_id: str,
        on_accepted: Callable[[str], None] = lambda session_id: None,
        media_link: Callable[[str], str] = lambda path: path,
    ) -> None:
        self.db = db
        self.clock = clock
        self.bus = bus
        self.box = box
        self.settings = settings
        self.worker_id = worker_id
        self.horizon = horizon
        self.brains = Brains(
            allow_private=settings.allow_private_urls,
            worker_id=worker_id,
            media_max_bytes=settings.media_max_bytes,
            media_link=media_link,
        )
        self.reader = LogReader(
            db=db,
            clock=clock,
            horizon=horizon,
            owner=worker_id,
            lease_ttl_s=settings.lease_ttl_s,
            notify=bus.notify,
        )
        self.timers = Timers(db=db, clock=clock)
        self.worker = BatchWorker(
            db=db,
            clock=clock,
            acceptor=acceptor,
            brains=self.brains,
            box=box,
            http=http,
            owner=worker_id,
            lease_ttl_s=settings.lease_ttl_s,
            allow_private_urls=settings.allow_private_urls,
            media_max_bytes=settings.media_max_bytes,
            notify=self._batch_done,
            on_accepted=on_accepted,
            monotonic=lambda: asyncio.get_running_loop().time(),
        )
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._held_at: datetime | None = None  # the last renewal of the cursor's lease
        self._claim_wanted = True  # batches may be ready: made here, or a slot was freed
        self._next_poll = 0.0  # loop time when other workers' batches are looked for
        # what an observer (a test holding the clock still) can wait on: the clock time at
        # the start of the last whole pass, and whether batches are being answered
        self.last_pass_started: datetime | None = None

    def wake(self) -> None:
        self._wake.set()

    def _batch_done(self) -> None:
        self.bus.notify()  # steps and replies were committed
        self._claim_wanted = True  # a slot is free, and the chat may have its next batch
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        async with self.db.transaction() as tx:
            released = await engine_work.release_own_batches(tx, self.worker_id, self.clock.now())
        if released:
            log.info("engine batches of this worker's last run picked up again", count=released)
        self._wake = self.bus.subscribe()
        try:
            while not self._stopping:
                self._wake.clear()
                timer = await self.step()
                real = self._next_poll - self._monotonic()
                gap = self.horizon.pending_gap_s()
                await wait_for(
                    self._wake,
                    self.clock,
                    timeout=timer,
                    real_timeout=min(real, gap if gap is not None else real),
                )
        finally:
            self.bus.unsubscribe(self._wake)

    @property
    def answering(self) -> int:
        """Batches of this worker being answered now."""
        return sum(1 for task in self._tasks if not task.done())

    async def step(self) -> float | None:
        """One pass; returns the clock time until the next timer, if there is one."""
        timeout: float | None = None
        started = self.clock.now()
        try:
            if await self._hold():
                while await self.reader.read():
                    pass
                resumed, made = await self.timers.fire()
                if resumed:
                    self.bus.notify()
                if made:
                    self._claim_wanted = True
                due = await self.timers.next_due()
                if due is not None:
                    timeout = max(0.0, (due - self.clock.now()).total_seconds())
            polled = self._monotonic() >= self._next_poll
            if polled:
                self._next_poll = self._monotonic() + self.settings.poll_s
            if self._claim_wanted or polled:
                self._claim_wanted = False
                await self._claim()
        except Exception as exc:
            log.error("engine pass failed", error=repr(exc))
        self.last_pass_started = started
        return timeout

    def _monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    async def _hold(self) -> bool:
        """Renew the log cursor's lease when a third of its time has passed (one write)."""
        now = self.clock.now()
        renew_after = timedelta(seconds=self.settings.lease_ttl_s / 3)
        if self.reader.holding and self._held_at is not None and now - self._held_at < renew_after:
            return True
        held = await self.reader.hold()
        self._held_at = now if held else None
        return held

    async def _claim(self) -> None:
        self._tasks = {t for t in self._tasks if not t.done()}
        free = self.settings.concurrency - len(self._tasks)
        if free <= 0 or self._stopping:
            return
        async with self.db.transaction() as tx:
            batches = await engine_work.claim_batches(
                tx,
                owner=self.worker_id,
                now=self.clock.now(),
                ttl_s=self.settings.lease_ttl_s,
                limit=free,
            )
        for batch in batches:
            self._start(batch)

    def _start(self, batch: EngineBatch) -> None:
        task = asyncio.get_running_loop().create_task(
            self.worker.process(batch), name=f"engine-batch:{batch.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(lambda _: self._wake.set())

    async def shutdown(self, timeout: float) -> None:
        """Let batches being answered finish up to ``timeout``; free the rest for others."""
        self._stopping = True
        self._wake.set()
        tasks = [t for t in self._tasks if not t.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(0.01, timeout))
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            async with self.db.transaction() as tx:
                await engine_work.release_own_batches(tx, self.worker_id, self.clock.now())
            if self.reader.holding:
                await self.reader.release()
        except Exception as exc:
            log.error("engine shutdown could not write", error=repr(exc))
        await self.brains.close()

    # ------------------------------------------------------------------ for the API

    async def get_settings(self, session: Session) -> dict[str, Any]:
        async with self.db.read() as tx:
            current = assistants.settings_of(await conversations.get_assistant(tx, session.id))
        return assistants.public_view(current)

    async def put_settings(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        async with self.db.transaction() as tx:
            stored = await assistants.save(tx, self.box, session, body, self.clock.now())
        self.wake()
        return assistants.public_view(stored)

    async def list_chats(
        self, session: Session, *, state: str | None, limit: int
    ) -> list[dict[str, Any]]:
        async with self.db.read() as tx:
            rows = await conversations.list_conversations(tx, session.id, state=state, limit=limit)
        return [conversation_json(row) for row in rows]

    async def pause(self, session: Session, chat_id: str) -> dict[str, Any]:
        chat = normalize_destination(chat_id)
        now = self.clock.now()
        async with self.db.transaction() as tx:
            conv = await conversations.ensure_conversation(
                tx, session_id=session.id, tenant_id=session.tenant_id, chat_id=chat, now=now
            )
            if conv.state != "paused":
                await takeover.pause(tx, conv, PauseReason.MANUAL, now=now)
            body = conversation_json(conv)
        self.bus.notify()
        return body

    async def human_reply(
        self, session: Session, chat_id: str, message_id: str, *, source: str = "dashboard"
    ) -> dict[str, Any]:
        """An operator answered (from the dashboard, or Chatwoot): the chat pauses as after a
        reply typed on the phone (the assistant keeps quiet for its ``resume_after_s``)."""
        chat = normalize_destination(chat_id)
        now = self.clock.now()
        async with self.db.transaction() as tx:
            rules = assistants.settings_of(await conversations.get_assistant(tx, session.id))
            conv = await conversations.ensure_conversation(
                tx, session_id=session.id, tenant_id=session.tenant_id, chat_id=chat, now=now
            )
            await takeover.pause(
                tx,
                conv,
                PauseReason.HUMAN_REPLY,
                now=now,
                resume_after_s=rules.resume_after_s,
                data={"message_id": message_id, "from": source},
            )
            body = conversation_json(conv)
        self.bus.notify()
        return body

    async def resume(
        self, session: Session, chat_id: str, *, reason: str = "manual"
    ) -> dict[str, Any]:
        chat = normalize_destination(chat_id)
        now = self.clock.now()
        async with self.db.transaction() as tx:
            conv = await conversations.ensure_conversation(
                tx, session_id=session.id, tenant_id=session.tenant_id, chat_id=chat, now=now
            )
            moved = await takeover.resume(tx, session.id, chat, now=now, reason=reason)
            body = conversation_json(moved or conv)
        self.bus.notify()
        return body

    async def chat(self, session: Session, chat_id: str) -> dict[str, Any]:
        chat = normalize_destination(chat_id)
        async with self.db.read() as tx:
            conv = await conversations.get_conversation(tx, session.id, chat)
        if conv is None:
            return {
                "chat_id": chat,
                "state": "bot",
                "paused_reason": None,
                "paused_at": None,
                "resume_at": None,
                "last_message_at": None,
                "pending": 0,
                "typing": False,
            }
        return conversation_json(conv)

    async def timeline(self, session: Session, chat_id: str, limit: int) -> list[dict[str, Any]]:
        chat = normalize_destination(chat_id)
        async with self.db.read() as tx:
            return await timeline.timeline(tx, session.id, chat, limit)
