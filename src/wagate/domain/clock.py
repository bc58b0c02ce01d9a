"""Time as a dependency.

Everything that waits (QR rotation, receipts, backoff, retries, batching
windows, leases) asks a :class:`Clock` instead of calling ``time`` or
``asyncio.sleep`` directly, so tests can drive time exactly with
:class:`FakeClock`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class Clock(Protocol):
    """The two things code may ask of time."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """Wall-clock time and real sleeps."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told to.

    ``sleep`` parks the caller until :meth:`advance` moves time past its
    deadline. Sleepers wake in deadline order, and time stands at each
    sleeper's deadline while it runs, so what they observe is exact.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self._now + timedelta(seconds=seconds)
        heapq.heappush(self._sleepers, (deadline, next(self._seq), future))
        await future

    @property
    def pending(self) -> int:
        """How many sleepers are waiting (cancelled ones included until reaped)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper whose deadline is passed."""
        target = self._now + timedelta(seconds=seconds)
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self._now = max(self._now, deadline)
            future.set_result(None)
            await _let_tasks_run()
        self._now = target
        await _let_tasks_run()


async def _let_tasks_run(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def wait_for(
    event: asyncio.Event,
    clock: Clock,
    *,
    timeout: float | None = None,
    real_timeout: float | None = None,
) -> None:
    """Return when ``event`` is set, ``timeout`` seconds of ``clock`` time have passed,
    or ``real_timeout`` real seconds have, whichever comes first.

    Timers (a hold, a retry, a keep-alive) wait on the clock, so tests move them
    exactly; polls for work done by other processes wait in real time, so a test
    clock moved by hours does not run thousands of polls on its way.
    """
    if event.is_set():
        return
    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(event.wait())]
    if timeout is not None:
        waiters.append(asyncio.ensure_future(clock.sleep(max(0.0, timeout))))
    if real_timeout is not None:
        waiters.append(asyncio.ensure_future(asyncio.sleep(max(0.0, real_timeout))))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
