"""PostgreSQL LISTEN on one channel, for workers to wake each other without polling fast.

SQLite has one process, so there is nobody else to wake: :meth:`Listener.run` returns at
once there and the callers' own polling covers every case.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from wagate.store.database import Database

log = structlog.get_logger("wagate.store")


class Listener:
    def __init__(self, db: Database, channel: str, on_payload: Callable[[str], None]) -> None:
        self.db = db
        self.channel = channel
        self.on_payload = on_payload

    async def run(self, retry_s: float = 5.0) -> None:
        """Listen until cancelled; a lost connection is opened again after ``retry_s``."""
        if self.db.is_sqlite:
            return
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("listen connection lost", channel=self.channel, error=repr(exc))
            await asyncio.sleep(retry_s)

    async def _listen(self) -> None:
        def received(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            self.on_payload(payload)

        closed = asyncio.Event()
        async with self.db.writer.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            raw.add_termination_listener(lambda _conn: closed.set())
            await raw.add_listener(self.channel, received)
            try:
                await closed.wait()
            finally:
                if not raw.is_closed():
                    await raw.remove_listener(self.channel, received)
