"""A session's delivery policy: guardrails, pacing and TTL, with global defaults.

Each session stores only its overrides (``sessions.settings``); the effective
policy is the global defaults from :class:`wagate.config.Settings` with those
overrides applied. ``GET /v1/sessions/{id}/settings`` shows both.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wagate.domain.errors import InvalidRequest

PacingName = Literal["instant", "fast", "normal", "slow"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class QuietHours(BaseModel):
    """A daily window (in the session's time zone) in which proactive messages wait."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = Field(description="HH:MM, e.g. 22:00")
    end: str = Field(description="HH:MM, e.g. 08:00; may be earlier than start (overnight)")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("expected HH:MM (24-hour)")
        return value

    def _bounds(self) -> tuple[time, time]:
        return time.fromisoformat(self.start), time.fromisoformat(self.end)

    def window_end(self, local_now: datetime) -> datetime | None:
        """When the quiet window that contains ``local_now`` ends; None if it is not quiet."""
        start, end = self._bounds()
        if start == end:
            return None
        now_t = local_now.time()
        day = local_now.date()
        if start < end:  # same-day window, e.g. 13:00-14:00
            if start <= now_t < end:
                return datetime.combine(day, end, local_now.tzinfo)
            return None
        if now_t >= start:  # overnight window, evening part
            return datetime.combine(day + timedelta(days=1), end, local_now.tzinfo)
        if now_t < end:  # overnight window, morning part
            return datetime.combine(day, end, local_now.tzinfo)
        return None


_YEAR = 366 * 86400  # bounds for durations: larger ones overflow date arithmetic


class DeliveryPolicy(BaseModel):
    """The effective delivery policy of one session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_ttl_s: float = Field(
        gt=0, le=_YEAR, description="a message not sent by then fails as expired"
    )
    rate_per_minute: int = Field(
        ge=1, le=1_000_000, description="messages per minute to one recipient"
    )
    burst_size: int = Field(
        ge=1, le=1_000_000, description="rapid messages to one recipient before cool-down"
    )
    burst_window_s: float = Field(
        ge=0, le=_YEAR, description="sends this close together count as rapid"
    )
    burst_cooldown_s: float = Field(ge=0, le=_YEAR, description="wait after a burst")
    daily_cap: int = Field(
        ge=1, le=100_000_000, description="proactive messages per day (session time zone)"
    )
    duplicate_window_s: float = Field(
        ge=0, le=_YEAR, description="same text to the same chat is refused"
    )
    opt_out_keywords: tuple[str, ...] = Field(description="inbound words that opt a contact out")
    quiet_hours: QuietHours | None = Field(default=None, description="proactive messages wait")
    timezone: str = Field(description="IANA time zone for quiet hours and the daily cap")
    pacing: PacingName = Field(description="typing simulation profile for humanized sends")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as Europe/Lisbon") from None
        return value

    @field_validator("opt_out_keywords", mode="before")
    @classmethod
    def _keywords(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(str(v).strip().upper() for v in value if str(v).strip())
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_opt_out(self, text: str | None) -> bool:
        return bool(text) and text.strip().upper() in self.opt_out_keywords  # type: ignore[union-attr]


OVERRIDABLE = frozenset(DeliveryPolicy.model_fields)


def resolve_policy(defaults: DeliveryPolicy, overrides: dict[str, Any]) -> DeliveryPolicy:
    """Apply a session's stored overrides to the defaults (invalid ones raise 422)."""
    if not overrides:
        return defaults
    return validate_overrides(defaults, overrides)[1]


def validate_overrides(
    defaults: DeliveryPolicy, overrides: dict[str, Any]
) -> tuple[dict[str, Any], DeliveryPolicy]:
    """Check overrides against the model; returns (clean overrides, effective policy)."""
    unknown = sorted(set(overrides) - OVERRIDABLE)
    if unknown:
        raise InvalidRequest(
            f"unknown settings {unknown}; known: {sorted(OVERRIDABLE)}", code="invalid_settings"
        )
    try:
        effective = DeliveryPolicy.model_validate({**defaults.model_dump(), **overrides})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(f"settings.{where}: {first['msg']}", code="invalid_settings") from None
    clean = {k: v for k, v in effective.model_dump(mode="json").items() if k in overrides}
    return clean, effective
