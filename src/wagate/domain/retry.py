"""Retry and backoff as values: what to wait before attempt N, and when to give up."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RetryStrategy:
    """Exponential backoff with full jitter, capped, for ``max_attempts`` attempts in all.

    ``schedule`` (when given) replaces the exponential curve with explicit delays,
    the last repeated: e.g. the reconnect schedule 2/5/10/20/40/60 s.
    """

    max_attempts: int = 8
    base_delay_s: float = 1.0
    max_delay_s: float = 300.0
    jitter: float = 0.2  # +-20 % of the delay
    schedule: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def base_delay(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1``, after ``attempt`` failures (1-based)."""
        if self.schedule:
            return self.schedule[min(attempt, len(self.schedule)) - 1]
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The jittered delay before the next try, after ``attempt`` failures (1-based)."""
        delay = self.base_delay(attempt)
        if self.jitter and delay > 0:
            spread = delay * self.jitter
            delay += (rng or random).uniform(-spread, spread)
        return max(0.0, delay)

    def decide(self, attempts_made: int, rng: random.Random | None = None) -> RetryDecision:
        """After ``attempts_made`` attempts in all, whether to try again and when."""
        if attempts_made >= self.max_attempts:
            return RetryDecision(retry=False)
        return RetryDecision(retry=True, delay_s=self.delay(attempts_made, rng))
