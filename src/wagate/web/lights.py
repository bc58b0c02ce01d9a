"""A session's traffic light on the dashboard.

- green: connected and active;
- yellow: connected but idle, or held back by a guardrail; starting, or waiting for a
  QR scan or a pairing code;
- red: disconnected (stopped, reconnecting), failed or logged out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from wagate.domain import SessionStatus

IDLE_AFTER = timedelta(minutes=30)

_RED_LABELS = {
    SessionStatus.STOPPED: "stopped",
    SessionStatus.RECONNECTING: "reconnecting",
    SessionStatus.LOGGED_OUT: "logged out",
    SessionStatus.FAILED: "failed",
}
_WAITING_LABELS = {SessionStatus.STARTING: "starting", SessionStatus.QR: "waiting for a scan"}


@dataclass(frozen=True, slots=True)
class Light:
    colour: Literal["green", "yellow", "red"]
    label: str


def session_light(
    status: str,
    *,
    last_activity: datetime | None,
    connected_at: datetime | None,
    held_by: str | None,
    now: datetime,
) -> Light:
    current = SessionStatus(status)
    if current in _RED_LABELS:
        return Light("red", _RED_LABELS[current])
    if current in _WAITING_LABELS:
        return Light("yellow", _WAITING_LABELS[current])
    if held_by is not None:
        return Light("yellow", f"held: {held_by.replace('_', ' ')}")
    latest = max((t for t in (last_activity, connected_at) if t is not None), default=None)
    if latest is None or now - latest > IDLE_AFTER:
        return Light("yellow", "idle")
    return Light("green", "connected")
