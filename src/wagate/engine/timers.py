"""The engine's durable timers: chats that resume after the human's quiet time, and
batching windows that end. Both are columns of ``conversations``
(``resume_at``, ``batch_due_at``), so they survive restarts; the worker that
reads the log fires them, each with a conditional update, so a timer fires
once even if two workers race.
"""

from __future__ import annotations

from datetime import datetime

from wagate.domain import Clock
from wagate.engine import journal, takeover
from wagate.engine.state import ChatState
from wagate.store import AsyncSession, Database
from wagate.store.repositories import conversations, engine_work


class Timers:
    def __init__(self, *, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def fire(self) -> tuple[int, int]:
        """Resume and flush what is due now; returns (resumed, batches made)."""
        now = self.clock.now()
        async with self.db.read() as tx:
            resumes = [
                (c.session_id, c.chat_id, c.resume_at)
                for c in await conversations.due_resumes(tx, now)
            ]
            flushes = [(c.session_id, c.chat_id) for c in await conversations.due_flushes(tx, now)]
        resumed = 0
        if resumes:
            async with self.db.transaction() as tx:  # one commit for all that are due
                for session_id, chat_id, due_at in resumes:
                    conv = await takeover.resume(
                        tx, session_id, chat_id, now=now, reason="quiet_time", due_at=due_at
                    )
                    resumed += conv is not None
        made = 0
        if flushes:
            async with self.db.transaction() as tx:
                for session_id, chat_id in flushes:
                    made += await self._flush(tx, session_id, chat_id, now)
        return resumed, made

    async def _flush(self, tx: AsyncSession, session_id: str, chat_id: str, now: datetime) -> bool:
        conv = await conversations.get_conversation(tx, session_id, chat_id, lock=True)
        if (
            conv is None
            or conv.batch_due_at is None
            or conv.batch_due_at > now
            or conv.pending <= 0
        ):
            return False
        due_at = conv.batch_due_at  # the step is dated when the window closed, not when seen
        conv.pending = 0
        conv.batch_first_at = None
        conv.batch_due_at = None
        conv.updated_at = now
        if conv.state != ChatState.BOT:
            await engine_work.drop_buffer(tx, session_id, chat_id)
            return False
        batch = await engine_work.take_buffer(
            tx, tenant_id=conv.tenant_id, session_id=session_id, chat_id=chat_id, now=now
        )
        if batch is None:
            return False
        await journal.step(
            tx,
            conv,
            "batched",
            {"batch_id": batch.id, "message_ids": batch.message_ids},
            due_at,
        )
        return True

    async def next_due(self) -> datetime | None:
        async with self.db.read() as tx:
            return await conversations.next_timer(tx)
