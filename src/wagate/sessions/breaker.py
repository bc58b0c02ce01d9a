"""The Bad MAC circuit breaker: too many decrypt failures in a window mean a corrupt session.

A Signal session that went bad produces a storm of "Bad MAC" errors; left
alone it eats memory and logs. Over the threshold within the window, the
session wipes its credentials, waits a cool-down and asks for a new QR.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta


class DecryptBreaker:
    def __init__(self, window_s: float, threshold: int) -> None:
        self.window = timedelta(seconds=window_s)
        self.threshold = threshold
        self._failures: deque[datetime] = deque()
        self.total = 0

    def record(self, now: datetime) -> bool:
        """Count one failure; True when the count in the window passes the threshold."""
        self.total += 1
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.window:
            self._failures.popleft()
        return len(self._failures) > self.threshold

    @property
    def in_window(self) -> int:
        return len(self._failures)

    def reset(self) -> None:
        self._failures.clear()
