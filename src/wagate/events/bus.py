"""In-process wake-ups for readers of the event log.

The log itself is the database table; this bus only tells local readers
(the live stream now, webhook delivery later) that there may be something
new, so they need not poll quickly. Other processes find new events by polling.
"""

from __future__ import annotations

import asyncio


class EventBus:
    def __init__(self) -> None:
        self._waiters: set[asyncio.Event] = set()

    def notify(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    def subscribe(self) -> asyncio.Event:
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        return waiter

    def unsubscribe(self, waiter: asyncio.Event) -> None:
        self._waiters.discard(waiter)
