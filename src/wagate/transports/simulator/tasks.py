"""Side tasks of a simulator transport: strongly referenced, logged when they fail, stoppable.

A task is only ever cancelled at a clock sleep when the transport merely
changes state (a dropped connection, a finished login): cancelling one that is
inside the session's event sink would cut the sink's own work short. Tasks
that are busy notice the new state after their current step and end on their
own. ``cancel_all`` (used by ``close``) stops everything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

from wagate.domain import Clock

log = structlog.get_logger()


class SideTasks:
    """The background tasks of one transport."""

    def __init__(self, clock: Clock, owner: str) -> None:
        self._clock = clock
        self._owner = owner
        self._tasks: set[asyncio.Task[None]] = set()
        self._sleeping: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=f"{self._owner}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._sleeping.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("simulator_task_failed", task=task.get_name(), exc_info=exc)

    async def settle(self) -> None:
        """Let just-spawned tasks start, so their first clock sleep is registered.

        A timer that has not started yet would not be seen by a fake clock that
        is advanced right away; one pass of the event loop fixes its deadline.
        """
        await asyncio.sleep(0)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the clock, as a point where :meth:`cancel_sleeping` may stop this task."""
        task = asyncio.current_task()
        if task is None or task not in self._tasks:
            await self._clock.sleep(seconds)
            return
        self._sleeping.add(task)
        try:
            await self._clock.sleep(seconds)
        finally:
            self._sleeping.discard(task)

    def cancel_sleeping(self, task: asyncio.Task[Any] | None = None) -> None:
        """Cancel the sleeping tasks (or just ``task``, if it is sleeping)."""
        for sleeper in list(self._sleeping):
            if task is None or sleeper is task:
                sleeper.cancel()

    async def cancel_all(self) -> None:
        """Cancel every task but the caller's own, and wait until they have ended."""
        current = asyncio.current_task()
        victims = [t for t in self._tasks if t is not current]
        for task in victims:
            task.cancel()
        if victims:
            await asyncio.gather(*victims, return_exceptions=True)
