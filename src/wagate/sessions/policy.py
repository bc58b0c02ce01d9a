"""What to do when a connection closes, by WhatsApp close code. One table, one place."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wagate.domain import SessionStatus


class Action(StrEnum):
    RECONNECT_NOW = "reconnect_now"  # a routine restart the server asked for
    RECONNECT_BACKOFF = "reconnect_backoff"  # try again after the backoff delay
    RECONNECT_SLOW = "reconnect_slow"  # the service is unavailable: a longer backoff
    LOGGED_OUT = "logged_out"  # credentials are void: wipe them, stop
    STOP = "stop"  # stop without reconnecting (replaced, QR timeout)


@dataclass(frozen=True, slots=True)
class CloseRule:
    action: Action
    status: SessionStatus
    reason: str
    wipe_credentials: bool = False
    alert: str | None = None


RECONNECT = CloseRule(Action.RECONNECT_BACKOFF, SessionStatus.RECONNECTING, "connection_lost")

CLOSE_CODES: dict[int, CloseRule] = {
    401: CloseRule(
        Action.LOGGED_OUT, SessionStatus.LOGGED_OUT, "logged_out", wipe_credentials=True
    ),
    402: CloseRule(
        Action.STOP,
        SessionStatus.FAILED,
        "temporarily_banned",
        alert="WhatsApp banned the number for a while; the login is kept: start the session "
        "again when the ban ends",
    ),
    403: CloseRule(
        Action.LOGGED_OUT,
        SessionStatus.LOGGED_OUT,
        "forbidden",
        wipe_credentials=True,
        alert="the number may be banned",
    ),
    405: CloseRule(
        Action.STOP,
        SessionStatus.FAILED,
        "client_outdated",
        alert="WhatsApp refuses this client version: upgrade wagate (its engine) and start again",
    ),
    408: CloseRule(Action.RECONNECT_BACKOFF, SessionStatus.RECONNECTING, "timed_out"),
    411: CloseRule(Action.RECONNECT_BACKOFF, SessionStatus.RECONNECTING, "multidevice_mismatch"),
    428: CloseRule(Action.RECONNECT_NOW, SessionStatus.RECONNECTING, "connection_closed"),
    440: CloseRule(Action.STOP, SessionStatus.FAILED, "replaced"),
    500: CloseRule(Action.RECONNECT_BACKOFF, SessionStatus.RECONNECTING, "bad_session"),
    503: CloseRule(Action.RECONNECT_SLOW, SessionStatus.RECONNECTING, "service_unavailable"),
    515: CloseRule(Action.RECONNECT_NOW, SessionStatus.RECONNECTING, "restart_required"),
}

QR_TIMEOUT = CloseRule(Action.STOP, SessionStatus.STOPPED, "qr_timeout")


def is_known_close_code(code: int, reason: str = "") -> bool:
    """Whether the table has a row for ``code``; the protocol monitor counts the others."""
    return reason == "qr_timeout" or code in CLOSE_CODES


def rule_for(code: int, reason: str = "") -> CloseRule:
    """The rule for a close code; unknown codes reconnect with backoff."""
    if reason == "qr_timeout":
        return QR_TIMEOUT
    return CLOSE_CODES.get(code, RECONNECT)
