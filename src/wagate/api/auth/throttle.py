"""Login throttling: password guessing gets slower with every failure.

Counted per account (the e-mail tried) and per client address. After
``free_attempts`` failures (each within ``window_s`` of the one before), the
next attempt must wait a delay that doubles with each further failure, up to
``max_delay_s``; until then
the answer is 429 ``too_many_attempts`` with ``Retry-After``, without checking
the password (so guessing costs the attacker time, not us argon2 work).

A success clears the account's count but not the address's: one right password
must not reset guessing of other accounts from the same address.

The counts live in the worker's memory, bounded in size: with N workers behind
a balancer an attacker gets at most N times the attempts, still exponentially
slowed. Behind a reverse proxy, run uvicorn with ``--forwarded-allow-ips`` so the
address is the client's, not the proxy's.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from wagate.domain import Clock, TooManyAttempts


@dataclass(slots=True)
class _Failures:
    count: int
    last_at: datetime
    blocked_until: datetime | None = None


class LoginThrottle:
    def __init__(
        self,
        clock: Clock,
        *,
        free_attempts: int = 5,
        window_s: float = 900.0,
        base_delay_s: float = 1.0,
        max_delay_s: float = 900.0,
        max_keys: int = 100_000,
    ) -> None:
        self.clock = clock
        self.free_attempts = free_attempts
        self.window = timedelta(seconds=window_s)
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.max_keys = max_keys
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def check(self, keys: Sequence[str]) -> None:
        """Raise :class:`TooManyAttempts` while any of ``keys`` must wait."""
        now = self.clock.now()
        wait = 0.0
        for key in keys:
            entry = self._current(key, now)
            if entry is not None and entry.blocked_until is not None and entry.blocked_until > now:
                wait = max(wait, (entry.blocked_until - now).total_seconds())
        if wait > 0:
            raise TooManyAttempts(
                "too many failed logins: wait before trying again",
                retry_after_s=math.ceil(wait),
            )

    def failed(self, keys: Sequence[str]) -> None:
        now = self.clock.now()
        for key in keys:
            entry = self._current(key, now)
            if entry is None:
                entry = self._failures[key] = _Failures(count=0, last_at=now)
            entry.count += 1
            entry.last_at = now
            self._failures.move_to_end(key)
            over = entry.count - self.free_attempts
            if over >= 0:
                delay = min(self.base_delay_s * 2**over, self.max_delay_s)
                entry.blocked_until = now + timedelta(seconds=delay)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _current(self, key: str, now: datetime) -> _Failures | None:
        """The key's failures, forgotten ``window`` after the last one once no block remains."""
        entry = self._failures.get(key)
        if entry is None:
            return None
        blocked = entry.blocked_until is not None and entry.blocked_until > now
        if not blocked and now - entry.last_at > self.window:
            del self._failures[key]
            return None
        return entry
