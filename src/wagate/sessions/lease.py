"""A session's lease as its runtime sees it: the fencing token, and until when it may act.

The database decides who owns a session: a worker holds its lease until
``lease_expires_at`` and renews it every third of the TTL; another worker
takes it over once it lapsed, with a new fencing token. A worker that was
frozen (SIGSTOP, a stalled VM, a stop-the-world pause) past its TTL learns it
lost the lease only at its next renewal, and in the meantime its tasks wake up
and would send for a session another worker now runs. So a runtime acts on
the network only while its lease is *confirmed on this worker's clock*: until
``VALID_SHARE`` of the TTL after the renewal that last extended it began. The
share leaves room for clocks that disagree between workers (up to a sixth of
the TTL, 5 s of the default 30 s). Every database write the runtime makes of
its own accord (status changes and their events, credentials, the status of its
outbound messages) carries the token and is refused when another worker has
claimed since (:class:`StaleLease`).

What the network delivered (inbound messages, receipts, calls) is recorded
whoever holds the lease: these are facts, deduplicated by their WhatsApp ids,
and refusing them could lose a message that reached only this connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from wagate.domain import Clock, WagateError

VALID_SHARE = 5 / 6
"""How much of the TTL after a renewal began the runtime may act without another."""


class StaleLease(WagateError):
    """A write of a runtime whose lease another worker has claimed since: refused."""

    code = "stale_lease"
    status_code = 409


class Lease:
    """The lease one runtime runs under; the manager renews it, the runtime asks it."""

    def __init__(
        self,
        token: int | None,
        valid_until: datetime | None,
        ask_renewal: Callable[[], None] | None = None,
    ) -> None:
        self.token = token  # None: not fenced (a runtime outside a manager, in tests)
        self.valid_until = valid_until
        self._ask_renewal = ask_renewal  # the manager's "renew now", so waiting is short
        self.ended = False
        self._changed = asyncio.Event()

    @classmethod
    def claimed(
        cls, token: int, began: datetime, ttl_s: float, ask_renewal: Callable[[], None]
    ) -> Lease:
        return cls(token, valid_until(began, ttl_s), ask_renewal)

    @classmethod
    def unfenced(cls) -> Lease:
        return cls(None, None)

    def holds(self, now: datetime) -> bool:
        """May the runtime act now: the lease has not ended and its last renewal still covers
        ``now``."""
        if self.ended:
            return False
        return self.valid_until is None or now < self.valid_until

    def renewed(self, began: datetime, ttl_s: float) -> None:
        """A renewal that began at ``began`` kept the lease."""
        until = valid_until(began, ttl_s)
        if self.valid_until is None or until > self.valid_until:  # passes may finish in any order
            self.valid_until = until
        self._wake()

    def end(self) -> None:
        """Lost to another worker, or the runtime closed: never act again."""
        self.ended = True
        self._wake()

    async def confirmed(self, clock: Clock) -> bool:
        """Wait until the lease holds (True) or ended (False). A worker that woke from a
        long pause waits here for a renewal, which it asks for at once, instead of acting."""
        while not self.holds(clock.now()):
            if self.ended:
                return False
            self._changed.clear()
            if self._ask_renewal is not None:
                self._ask_renewal()
            await self._changed.wait()
        return True

    def _wake(self) -> None:
        self._changed.set()


def valid_until(began: datetime, ttl_s: float) -> datetime:
    return began + timedelta(seconds=ttl_s * VALID_SHARE)
