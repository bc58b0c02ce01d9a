"""The outbound queue's workers: one dispatcher per connected session, one lane per chat.

The database is the queue. A session's dispatcher reads its open messages in
acceptance order and hands each chat's messages to that chat's lane
(``lane.py``); lanes run concurrently, so pacing or a guardrail in one chat
never holds up another. A message's WhatsApp id is fixed when it is
accepted, so one found in ``sending`` after a crash is transmitted again with
the same id and the network keeps one copy. Status changes go through the
group-commit writer (``writer.py``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from wagate.domain import Clock, MessageStatus, RetryStrategy, wait_for
from wagate.domain.policy import DeliveryPolicy, resolve_policy
from wagate.observability import Metrics
from wagate.outbox.guardrails import Guard
from wagate.outbox.lane import ChatLane
from wagate.outbox.media import MediaLoader
from wagate.outbox.numbers import NumberBook
from wagate.outbox.writer import Op, StatusWriter, failure
from wagate.sessions import SessionManager, SessionRuntime
from wagate.store import Database
from wagate.store.models import Message
from wagate.store.repositories import idempotency, messages, sessions

log = structlog.get_logger("wagate.outbox")

BATCH = 500
MAX_LANES = 64  # chats of one session sending at the same time
PURGE_EVERY = timedelta(minutes=1)  # how often expired idempotency keys are deleted


@dataclass(frozen=True, slots=True)
class SenderSettings:
    poll_s: float
    retry: RetryStrategy
    number_check_ttl_s: float = 86400.0  # how long a number's JID is trusted (numbers.py)


class Outbox:
    """Runs the dispatchers of this process's connected sessions."""

    def __init__(
        self,
        *,
        db: Database,
        manager: SessionManager,
        clock: Clock,
        loader: MediaLoader,
        settings: SenderSettings,
        metrics: Metrics,
        events_committed: Callable[[], None],
        policy_defaults: DeliveryPolicy,
    ) -> None:
        self.db = db
        self.manager = manager
        self.clock = clock
        self.loader = loader
        self.settings = settings
        self.metrics = metrics
        self.policy_defaults = policy_defaults
        self.writer = StatusWriter(db, clock, events_committed)
        self.numbers = NumberBook(clock, settings.number_check_ttl_s)
        self._senders: dict[str, SessionSender] = {}
        self._stopping = False
        self._last_purge: datetime | None = None

    def wake(self, session_id: str) -> None:
        """There may be work for this session: start its dispatcher or nudge it."""
        if self._stopping:
            return
        sender = self._senders.get(session_id)
        if sender is None or sender.done:
            runtime = self.manager.runtime(session_id)
            if runtime is None:
                return
            sender = SessionSender(self, runtime)
            self._senders[session_id] = sender
            sender.start()
        sender.wake()

    def inbound_seen(self, session_id: str, chat_id: str, at: datetime) -> None:
        """A contact wrote in this chat (committed in this process): not proactive now."""
        sender = self._senders.get(session_id)
        if sender is not None:
            sender.guard.inbound_seen(chat_id, at)

    def policy_changed(self, session_id: str) -> None:
        """A session's delivery policy changed: its dispatcher rereads it."""
        sender = self._senders.get(session_id)
        if sender is not None and not sender.done:
            sender.reload_policy = True  # its lanes are told once the new policy is loaded
        self.wake(session_id)

    def assigned(self) -> set[int]:
        """Messages that a lane of this process holds right now."""
        held: set[int] = set()
        for sender in self._senders.values():
            held |= sender.assigned
        return held

    async def run(self) -> None:
        """A supervisor pass every poll: wake dispatchers, expire messages.

        The poll sleeps in real time: it looks for work, it does not time anything
        (expiry compares with the injected clock's now). On the injected clock a
        test that jumps twelve hours would run forty thousand passes.
        """
        while True:
            try:
                await self._supervise()
            except Exception as exc:
                log.error("outbox supervisor pass failed", error=repr(exc))
            await asyncio.sleep(self.settings.poll_s)

    async def _supervise(self) -> None:
        async with self.db.read() as tx:
            pending = await messages.sessions_with_open_outbound(tx)
            expired = await messages.expired_open(tx, self.clock.now(), BATCH)
        for session_id in pending:
            if self.manager.runtime(session_id) is not None:
                self.wake(session_id)
        held = self.assigned()
        for message in expired:
            if message.seq not in held:  # lanes expire their own messages
                await self.expire(message)
        now = self.clock.now()
        if self._last_purge is None or now - self._last_purge >= PURGE_EVERY:
            self._last_purge = now
            async with self.db.transaction() as tx:
                purged = await idempotency.purge_expired(tx, now)
            if purged:
                log.info("expired idempotency keys purged", count=purged)

    async def expire(self, message: Message) -> None:
        now = self.clock.now()
        text = "the message was not sent before it expired"
        await self.writer.submit(failure(message, "expired", text, now))
        self.metrics.messages_out.labels(message.type, MessageStatus.FAILED.value).inc()
        self.metrics.errors.labels("expired").inc()

    async def shutdown(self, timeout: float) -> None:
        """Stop taking work, let in-flight sends finish up to ``timeout``, commit their status."""
        self._stopping = True
        senders = list(self._senders.values())
        for sender in senders:
            sender.stop()
        tasks = [s.task for s in senders if s.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(0.01, timeout))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.writer.drain()
        self._senders.clear()


class SessionSender:
    """One session's dispatcher: reads open messages and feeds the chat lanes."""

    def __init__(self, outbox: Outbox, runtime: SessionRuntime) -> None:
        self.outbox = outbox
        self.runtime = runtime
        self.session_id = runtime.session_id
        self.clock = outbox.clock
        self.writer = outbox.writer
        self.task: asyncio.Task[None] | None = None
        self.stopping = False
        self.reload_policy = True
        self.policy = outbox.policy_defaults
        self.guard = Guard(self.session_id, self.policy)
        self.lanes: dict[str, ChatLane] = {}
        self.assigned: set[int] = set()
        # A read of the queue that began before a message was settled may still show it
        # open; such rows are skipped (seq -> the fill count when it was settled).
        self.sent_here: set[int] = set()  # attempted by this process (not left by a crash)
        self._fills = 0
        self._settled: dict[int, int] = {}
        # Reads are incremental (messages accepted after the highest one seen) except for
        # a full rescan at start, on each poll, and after messages were given back.
        self._high_water = 0
        self._rescan = True
        self._rescan_when_a_lane_ends = False
        self.rng = random.Random()
        self._wakeup = asyncio.Event()
        self._changed = asyncio.Event()
        self.log = log.bind(session_id=self.session_id)

    @property
    def done(self) -> bool:
        return self.task is None or self.task.done()

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"sender:{self.session_id}"
        )

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        self.stopping = True
        self.notify_lanes()
        self.wake()

    def notify_lanes(self) -> None:
        """Wake every waiting lane to look again (policy change, stop)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def sleep_until(self, until: datetime) -> None:
        """A lane's wait: until ``until``, or until the sender's situation changes."""
        seconds = (until - self.clock.now()).total_seconds()
        if seconds > 0:
            await wait_for(self._changed, self.clock, timeout=seconds)

    def write(self, op: Op) -> asyncio.Future[bool]:
        """Queue a status change of this session's message, fenced by the runtime's lease:
        refused if another worker has claimed the session since."""
        op.lease = self.runtime.fence
        return self.writer.submit(op)

    def release(self, seq: int) -> None:
        """The message goes back to the queue unsent (offline, stopping)."""
        self.assigned.discard(seq)
        self._rescan = True

    def settled(self, seq: int) -> None:
        """The message was sent or failed, and that is committed."""
        self.assigned.discard(seq)
        self._settled[seq] = self._fills

    def lane_finished(self, lane: ChatLane) -> None:
        if self.lanes.get(lane.chat_id) is lane:
            del self.lanes[lane.chat_id]
        if self._rescan_when_a_lane_ends:  # messages were left for want of a lane
            self._rescan_when_a_lane_ends = False
            self._rescan = True
        self.wake()

    async def _run(self) -> None:
        try:
            while not self.stopping:
                if self.outbox.manager.runtime(self.session_id) is not self.runtime:
                    return  # the session stopped or was restarted; a new dispatcher takes over
                self._wakeup.clear()
                if self.reload_policy:
                    await self._load_policy()
                found = await self._fill() if self.runtime.connected else True
                if not found and not self.lanes:
                    return  # nothing to do; wake() starts a new dispatcher
                await wait_for(self._wakeup, self.clock, timeout=self.outbox.settings.poll_s)
                if not self._wakeup.is_set():
                    self._rescan = True  # a quiet poll: look at the whole queue again
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("dispatcher crashed; the supervisor restarts it on its next pass")
        finally:
            await self._stop_lanes()

    async def _load_policy(self) -> None:
        self.reload_policy = False
        async with self.outbox.db.read() as tx:
            row = await sessions.get_session(tx, self.session_id, None)
        policy = resolve_policy(self.outbox.policy_defaults, row.settings or {})
        if policy != self.policy:
            self.policy = policy
            self.guard.policy = policy
            self.notify_lanes()  # waiting messages look again under the new policy

    async def _fill(self) -> bool:
        """Give open messages to their chats' lanes. Returns whether any message is open."""
        self._fills += 1
        this_fill = self._fills
        full, self._rescan = self._rescan, False
        async with self.outbox.db.read() as tx:
            rows = await messages.open_outbound(
                tx, self.session_id, BATCH, after_seq=None if full else self._high_water
            )
        if rows:
            self._high_water = max(self._high_water, rows[-1].seq)
        if len(rows) == BATCH:
            self._rescan_when_a_lane_ends = True
        stale = {seq for seq, at in self._settled.items() if at >= this_fill - 1}
        self._settled = {seq: at for seq, at in self._settled.items() if seq in stale}
        rows = [row for row in rows if row.seq not in stale]
        await self._load_guardrails(rows)
        for row in rows:
            if row.seq in self.assigned:
                continue
            lane = self.lanes.get(row.chat_id)
            if lane is None:
                if len(self.lanes) >= MAX_LANES:
                    self._rescan_when_a_lane_ends = True
                    continue
                lane = ChatLane(self, row.chat_id)
                self.lanes[row.chat_id] = lane
                lane.add(row)
                self.assigned.add(row.seq)
                lane.start()
                continue
            lane.add(row)
            self.assigned.add(row.seq)
        return bool(rows)

    async def _load_guardrails(self, rows: list[Message]) -> None:
        """What the new lanes' guardrails need, read for all their chats at once."""
        now = self.clock.now()
        chats = {
            row.chat_id
            for row in rows
            if row.chat_id not in self.lanes and self.guard.needs_loading(row.chat_id, now)
        }
        if chats:
            async with self.outbox.db.read() as tx:
                await self.guard.load_chats(tx, chats, now)

    async def _stop_lanes(self) -> None:
        lanes = list(self.lanes.values())
        self.notify_lanes()
        tasks = [lane.task for lane in lanes if lane.task is not None]
        if tasks and not self.stopping:
            for task in tasks:
                task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.lanes.clear()
        self.assigned.clear()


__all__ = ["Outbox", "SenderSettings", "SessionSender"]
