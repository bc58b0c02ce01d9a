"""The guardrail decision on a chat's recent sends, with exact times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wagate.domain.policy import DeliveryPolicy, QuietHours
from wagate.outbox.guardrails import HoldReason, hold_for, next_local_midnight

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday, noon UTC


def policy(**changes: object) -> DeliveryPolicy:
    base = {
        "message_ttl_s": 86400,
        "rate_per_minute": 10,
        "burst_size": 3,
        "burst_window_s": 10,
        "burst_cooldown_s": 30,
        "daily_cap": 1000,
        "duplicate_window_s": 300,
        "opt_out_keywords": ("STOP",),
        "quiet_hours": None,
        "timezone": "UTC",
        "pacing": "instant",
    }
    base.update(changes)
    return DeliveryPolicy.model_validate(base)


def at(*seconds: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


def test_nothing_holds_a_quiet_chat() -> None:
    assert hold_for(policy(), T0, [], proactive=True, sent_today=0) is None


def test_burst_of_three_then_a_cooldown() -> None:
    sends = at(0, 1, 2)
    hold = hold_for(policy(), T0 + timedelta(seconds=3), sends, proactive=False, sent_today=0)
    assert hold is not None
    assert (hold.reason, hold.until) == (HoldReason.BURST_COOLDOWN, T0 + timedelta(seconds=32))
    assert (
        hold_for(policy(), T0 + timedelta(seconds=32), sends, proactive=False, sent_today=0) is None
    )
    spread = at(0, 11, 22)  # not rapid: more than 10 s from first to last
    assert (
        hold_for(policy(), T0 + timedelta(seconds=23), spread, proactive=False, sent_today=0)
        is None
    )


def test_rate_per_minute() -> None:
    sends = at(*[i * 5.5 for i in range(10)])  # 10 sends, 5.5 s apart: never a burst
    hold = hold_for(policy(), T0 + timedelta(seconds=50), sends, proactive=False, sent_today=0)
    assert hold is not None
    assert (hold.reason, hold.until) == (HoldReason.RATE_LIMIT, T0 + timedelta(seconds=60))
    assert (
        hold_for(policy(), T0 + timedelta(seconds=60), sends, proactive=False, sent_today=0) is None
    )


def test_daily_cap_holds_proactive_messages_until_local_midnight() -> None:
    lisbon = policy(daily_cap=2, timezone="America/Sao_Paulo")
    hold = hold_for(lisbon, T0, [], proactive=True, sent_today=2)
    assert hold is not None
    assert hold.reason is HoldReason.DAILY_CAP
    assert hold.until == datetime(2026, 1, 6, 3, 0, tzinfo=UTC)  # midnight in São Paulo
    assert hold_for(lisbon, T0, [], proactive=False, sent_today=2) is None
    assert next_local_midnight(T0, lisbon) == hold.until


def test_quiet_hours_only_for_proactive_messages() -> None:
    overnight = policy(quiet_hours=QuietHours(start="22:00", end="08:00"))
    late = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)
    hold = hold_for(overnight, late, [], proactive=True, sent_today=0)
    assert hold is not None
    assert (hold.reason, hold.until) == (
        HoldReason.QUIET_HOURS,
        datetime(2026, 1, 6, 8, 0, tzinfo=UTC),
    )
    early = datetime(2026, 1, 6, 7, 0, tzinfo=UTC)
    assert hold_for(overnight, early, [], proactive=True, sent_today=0).until == hold.until  # type: ignore[union-attr]
    assert hold_for(overnight, T0, [], proactive=True, sent_today=0) is None
    assert hold_for(overnight, late, [], proactive=False, sent_today=0) is None
    lunch = policy(quiet_hours=QuietHours(start="12:00", end="13:00"))
    assert hold_for(lunch, T0, [], proactive=True, sent_today=0).until == T0 + timedelta(hours=1)  # type: ignore[union-attr]


def test_the_latest_hold_wins() -> None:
    crowded = policy(daily_cap=1, quiet_hours=QuietHours(start="11:00", end="13:00"))
    hold = hold_for(crowded, T0, at(-2, -1, 0), proactive=True, sent_today=5)
    assert hold is not None
    assert hold.reason is HoldReason.DAILY_CAP
