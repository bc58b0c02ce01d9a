"""LISTEN/NOTIFY between workers: a committed NOTIFY wakes the listener (PostgreSQL);
on SQLite there is nobody else to wake and the listener returns at once."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text

from tests.support.server import eventually
from wagate.store import Database
from wagate.store.notify import Listener


async def test_a_committed_notify_reaches_the_listener(db: Database) -> None:
    heard: list[str] = []
    listener = Listener(db, "wagate_test_channel", heard.append)
    if db.is_sqlite:
        await asyncio.wait_for(listener.run(), timeout=1)  # returns: polling covers SQLite
        return
    task = asyncio.get_running_loop().create_task(listener.run())
    try:

        async def sent_and_heard() -> bool:
            async with db.transaction() as tx:
                await tx.execute(text("SELECT pg_notify('wagate_test_channel', 'worker-a')"))
            await asyncio.sleep(0.05)
            return "worker-a" in heard

        await eventually(sent_and_heard)
        async with db.transaction() as tx:  # nothing is heard before the commit
            await tx.execute(text("SELECT pg_notify('wagate_test_channel', 'worker-b')"))
            await asyncio.sleep(0.1)
            assert "worker-b" not in heard
        await eventually(lambda: asyncio.sleep(0.01, result="worker-b" in heard))
    finally:
        task.cancel()  # and wait: its connection goes back to the pool before the engine ends
        with contextlib.suppress(asyncio.CancelledError):
            await task
