"""How long things are kept, and the sweep that deletes what is older.

wagate would otherwise keep everything forever: events, webhook deliveries,
dead letters, the engine's timeline steps and messages with their media files.
Each has a retention in days (0 keeps it forever; ``WAGATE_RETAIN_*_DAYS``).
:meth:`RetentionSweeper.sweep` deletes in bounded batches, a transaction each,
oldest first, until nothing older is left; :meth:`RetentionSweeper.run` sweeps
every ``interval_s`` on the injected clock. Any number of workers may sweep:
the deletes are idempotent.

Kept whatever their age: messages still waiting to be sent (``queued``,
``sending``), deliveries a webhook still has to make, and the events those
deliveries point at.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from wagate.domain import Clock
from wagate.store.database import Database
from wagate.store.media import MediaStore
from wagate.store.repositories import retention

log = structlog.get_logger("wagate.store")

BATCH = 1000


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """Days each kind of row is kept; 0 keeps it forever."""

    events_days: float = 30
    deliveries_days: float = 30
    dead_letters_days: float = 30
    engine_steps_days: float = 30
    messages_days: float = 180
    ended_logins_days: float = 7  # logged out or expired; kept a while for the audit trail
    silent_workers_days: float = 7  # workers not heard from: gone from the fleet
    session_commands_days: float = 1  # answered or abandoned calls between workers
    interval_s: float = 3600


@dataclass
class SweepResult:
    deleted: dict[str, int] = field(default_factory=dict)
    files_removed: int = 0


class RetentionSweeper:
    def __init__(
        self,
        db: Database,
        media: MediaStore,
        clock: Clock,
        settings: RetentionSettings,
        *,
        batch: int = BATCH,
    ) -> None:
        self.db = db
        self.media = media
        self.clock = clock
        self.settings = settings
        self.batch = batch

    async def run(self) -> None:
        """Sweep now, then every ``interval_s``; a failed sweep is logged and tried again."""
        while True:
            try:
                result = await self.sweep()
                if any(result.deleted.values()):
                    log.info("retention sweep", **result.deleted, files=result.files_removed)
            except Exception:
                log.exception("retention sweep failed")
            await self.clock.sleep(self.settings.interval_s)

    async def sweep(self) -> SweepResult:
        now = self.clock.now()
        result = SweepResult()
        s = self.settings
        # deliveries before events: an event goes once no open delivery points at it
        await self._rows(result, "deliveries", s.deliveries_days, now, retention.delete_deliveries)
        await self._rows(result, "events", s.events_days, now, retention.delete_events)
        await self._rows(
            result, "dead_letters", s.dead_letters_days, now, retention.delete_dead_letters
        )
        await self._rows(
            result, "engine_steps", s.engine_steps_days, now, retention.delete_engine_steps
        )
        await self._rows(result, "logins", s.ended_logins_days, now, retention.delete_ended_logins)
        await self._rows(
            result, "workers", s.silent_workers_days, now, retention.delete_silent_workers
        )
        await self._rows(
            result, "session_commands", s.session_commands_days, now, retention.delete_commands
        )
        await self._messages(result, s.messages_days, now)
        return result

    async def _rows(
        self,
        result: SweepResult,
        name: str,
        days: float,
        now: datetime,
        delete: Callable[..., Awaitable[int]],
    ) -> None:
        result.deleted[name] = 0
        if days <= 0:
            return
        before = now - timedelta(days=days)
        while True:
            async with self.db.transaction() as tx:
                count = await delete(tx, before, self.batch)
            result.deleted[name] += count
            if count < self.batch:
                return

    async def _messages(self, result: SweepResult, days: float, now: datetime) -> None:
        result.deleted["messages"] = 0
        if days <= 0:
            return
        before = now - timedelta(days=days)
        while True:
            async with self.db.transaction() as tx:
                deleted = await retention.delete_messages(tx, before, self.batch)
            result.deleted["messages"] += len(deleted)
            for session_id, message_id, mime in deleted:  # after the commit: no row holds them
                if mime and await self.media.remove(session_id, message_id, mime):
                    result.files_removed += 1
            if len(deleted) < self.batch:
                return
