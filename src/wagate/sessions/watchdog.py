"""The watchdog: notices a connection that is dead although the transport did not say so.

Where the transport answers keepalives, one is sent every
``keepalive_interval_s`` and must be answered within ``keepalive_timeout_s``;
otherwise ``idle_reconnect_s`` of silence counts as a dead connection. Either
way the session reconnects through its usual close-code path (code 408).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from wagate.domain import Clock
from wagate.transports.base import Transport

if TYPE_CHECKING:
    from wagate.sessions.runtime import SessionRuntime


class Watchdog:
    def __init__(self, runtime: SessionRuntime) -> None:
        self.runtime = runtime
        self.last_traffic = runtime.clock.now()
        self._task: asyncio.Task[None] | None = None

    def saw_traffic(self) -> None:
        self.last_traffic = self.runtime.clock.now()

    def start(self, transport: Transport) -> None:
        """Watch ``transport`` (the connection that just opened)."""
        self.stop()
        self._task = asyncio.get_running_loop().create_task(
            self._watch(transport), name=f"watchdog:{self.runtime.session_id}"
        )

    def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _watch(self, transport: Transport) -> None:
        runtime = self.runtime
        settings = runtime.settings
        clock = runtime.clock
        while True:
            await clock.sleep(settings.keepalive_interval_s)
            if runtime.transport is not transport or not runtime.connected:
                return
            if transport.capabilities.keepalive:
                answered = await _within(clock, transport.keepalive(), settings.keepalive_timeout_s)
                runtime.monitor.record("keepalive", answered, None if answered else "timeout")
                if not answered:
                    await runtime.connection_lost("keepalive_timeout", transport)
                    return
                self.saw_traffic()
            elif (clock.now() - self.last_traffic).total_seconds() >= settings.idle_reconnect_s:
                await runtime.connection_lost("idle", transport)
                return


async def _within(clock: Clock, work: Coroutine[Any, Any, None], timeout: float) -> bool:
    """Whether ``work`` finished without error within ``timeout`` of the clock's time."""
    task = asyncio.ensure_future(work)
    sleeper = asyncio.ensure_future(clock.sleep(timeout))
    try:
        done, _ = await asyncio.wait({task, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, sleeper):
            pending.cancel()
        await asyncio.gather(task, sleeper, return_exceptions=True)
    return task in done and not task.cancelled() and task.exception() is None
