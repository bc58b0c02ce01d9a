from __future__ import annotations

import asyncio
import random

import pytest

from wagate.domain import FakeClock, MessageStatus, RetryStrategy, advances, statuses_before

S = MessageStatus


@pytest.mark.parametrize(
    ("current", "new", "expected"),
    [
        (S.QUEUED, S.SENDING, True),
        (S.SENDING, S.SENT, True),
        (S.SENT, S.DELIVERED, True),
        (S.DELIVERED, S.READ, True),
        (S.READ, S.PLAYED, True),
        (S.SENT, S.READ, True),
        (S.READ, S.DELIVERED, False),
        (S.PLAYED, S.READ, False),
        (S.SENT, S.SENT, False),
        (S.DELIVERED, S.SENT, False),
        (S.QUEUED, S.FAILED, True),
        (S.SENDING, S.FAILED, True),
        (S.SENT, S.FAILED, False),
        (S.FAILED, S.SENT, False),
        (S.RECEIVED, S.READ, False),
    ],
)
def test_statuses_only_move_forward(current: S, new: S, expected: bool) -> None:
    assert advances(current, new) is expected


def test_statuses_before() -> None:
    assert statuses_before(S.READ) == [S.QUEUED, S.SENDING, S.SENT, S.DELIVERED]
    assert statuses_before(S.FAILED) == [S.QUEUED, S.SENDING]


def test_retry_schedule_and_limit() -> None:
    strategy = RetryStrategy(max_attempts=4, schedule=(2, 5, 10), jitter=0)
    assert [strategy.decide(n).delay_s for n in (1, 2, 3)] == [2, 5, 10]
    assert strategy.decide(4).retry is False
    exponential = RetryStrategy(max_attempts=10, base_delay_s=1, max_delay_s=8, jitter=0)
    assert [exponential.decide(n).delay_s for n in range(1, 6)] == [1, 2, 4, 8, 8]


def test_retry_jitter_stays_within_bounds() -> None:
    strategy = RetryStrategy(max_attempts=3, schedule=(10,), jitter=0.2)
    rng = random.Random(1)
    delays = [strategy.decide(1, rng).delay_s for _ in range(200)]
    assert min(delays) >= 8
    assert max(delays) <= 12
    assert len(set(delays)) > 100


def test_retry_validates() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryStrategy(max_attempts=0)


async def test_fake_clock_wakes_sleepers_in_order() -> None:
    clock = FakeClock()
    start = clock.now()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, (clock.now() - start).total_seconds()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("b", 5), ("a", 2), ("c", 9)]]
    await asyncio.sleep(0)
    await clock.advance(6)
    assert woke == [("a", 2.0), ("b", 5.0)]
    assert (clock.now() - start).total_seconds() == 6
    await clock.advance(3)
    assert woke[-1] == ("c", 9.0)
    await asyncio.gather(*tasks)
