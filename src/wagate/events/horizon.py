"""How far the event log can be read without skipping an event that is still committing.

Event rows get their ``seq`` when inserted, not when committed. On
PostgreSQL two transactions can take seq 41 and 42 and commit 42 first: a
reader that saw 42 and moved its cursor past it would never see 41. (On
SQLite one writer commits at a time, so this cannot happen there, but the
same code runs.) Every reader that keeps a cursor (webhook delivery, the
live stream, pulling) therefore reads only up to the **horizon**: the
highest seq below which every seq is either visible or has been missing for
longer than a grace period. A seq missing that long belongs to a transaction
that rolled back (or to a sequence that jumped after a database crash).

The grace period is measured on the event loop's monotonic clock, not the
injected :class:`~wagate.domain.Clock`: it bounds how long a real database
transaction stays open, which test time does not govern.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from wagate.store import Database
from wagate.store.repositories import events, webhooks

GRACE_S = 5.0  # longer than any transaction that appends events stays open
LOOKBACK = 1000  # at start, gaps this close to the end of the log may still be filling
PAGE = 5000


@dataclass(slots=True)
class _Gap:
    low: int
    high: int
    since: float  # monotonic time it was first seen


class LogHorizon:
    """The safe end of the event log, shared by the readers of one process."""

    def __init__(
        self,
        db: Database,
        *,
        grace_s: float = GRACE_S,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.db = db
        self.grace_s = grace_s
        self._monotonic = monotonic
        self._safe: int | None = None
        self._gaps: list[_Gap] = []
        self._lock = asyncio.Lock()
        self._runs = 0  # refreshes started

    @property
    def safe(self) -> int:
        """The horizon as of the last :meth:`refresh` (0 before the first)."""
        return self._safe or 0

    def pending_gap_s(self) -> float | None:
        """Seconds until the oldest gap that holds the horizon back expires, if any."""
        if not self._gaps:
            return None
        now = self._now()
        return max(0.0, min(g.since for g in self._gaps) + self.grace_s - now)

    async def refresh(self) -> int:
        """Read what was committed until now and move the horizon forward.

        Callers that arrive while a refresh runs share the next one: a refresh
        that started after a caller arrived has seen everything it needs.
        """
        arrived = self._runs
        async with self._lock:
            if self._runs > arrived:  # one started after we asked, and it has finished
                return self.safe
            self._runs += 1
            if self._safe is None:
                async with self.db.read() as tx:
                    last = await webhooks.log_end(tx)
                self._safe = max(0, last - LOOKBACK)
            while True:
                async with self.db.read() as tx:
                    seqs = await events.seqs_after(tx, self._safe, PAGE)
                self._advance(seqs)
                if len(seqs) < PAGE or self._gaps_block():
                    return self._safe

    def _gaps_block(self) -> bool:
        return any(g.low == (self._safe or 0) + 1 for g in self._gaps)

    def _advance(self, seqs: list[int]) -> None:
        now = self._now()
        expected = (self._safe or 0) + 1
        found: list[_Gap] = []
        for seq in seqs:
            if seq > expected:
                since = min(
                    (g.since for g in self._gaps if g.low <= seq - 1 and g.high >= expected),
                    default=now,
                )
                found.append(_Gap(expected, seq - 1, since))
            expected = seq + 1
        safe = self._safe or 0
        last = seqs[-1] if seqs else safe
        for gap in found:
            if now - gap.since < self.grace_s:
                last = gap.low - 1
                break
        self._safe = max(safe, last)
        self._gaps = [g for g in found if g.high > self._safe]

    def _now(self) -> float:
        if self._monotonic is not None:
            return self._monotonic()
        return asyncio.get_running_loop().time()
