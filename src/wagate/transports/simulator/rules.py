"""What the simulated network accepts and how it closes connections: fixed, documented rules.

Tests aim at these rules, so they are plain data and small pure functions:

* a phone number is on WhatsApp unless its digits start with ``0`` or ``999``;
* any group JID is accepted (the simulator does not model membership);
* an ``@lid`` JID is accepted only when the phone knows it (a contact's, or a
  sender's it has seen), otherwise ``lid_without_mapping``;
* close codes follow WhatsApp's; 401 (logged out) and 403 (banned) unlink the device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from wagate.domain import (
    CHANGE_TYPES,
    MEDIA_TYPES,
    SENDABLE_TYPES,
    MessageType,
    OutgoingMessage,
    PermanentSendError,
    split_jid,
)
from wagate.domain.ids import GROUP_SERVER, LID_SERVER, PHONE_SERVER
from wagate.transports.simulator.records import SentRecord

OUTBOUND_TYPES = SENDABLE_TYPES | CHANGE_TYPES | {MessageType.POLL}

CLOSE_REASONS = {
    401: "logged_out",
    403: "forbidden",
    408: "timed_out",
    411: "multidevice_mismatch",
    428: "connection_closed",
    440: "connection_replaced",
    500: "bad_session",
    503: "service_unavailable",
    515: "restart_required",
}
UNLINKING_CODES = frozenset({401, 403})  # the phone removed the device (logout, ban)


def close_reason(code: int) -> str:
    return CLOSE_REASONS.get(code, "connection_lost")


def on_whatsapp(digits: str) -> bool:
    """Whether the simulated network has an account for this number."""
    return not digits.startswith(("0", "999"))


def check_outgoing(message: OutgoingMessage, knows_lid: Callable[[str], bool]) -> None:
    """Raise ``PermanentSendError`` for a message the network would refuse."""
    if message.type not in OUTBOUND_TYPES:
        raise PermanentSendError(
            f"the simulator cannot send {message.type.value!r} messages", code="unsupported_type"
        )
    if message.type in MEDIA_TYPES and message.media is None:
        raise PermanentSendError(
            f"a {message.type.value} message needs media", code="invalid_message"
        )
    user, server = split_jid(message.to)
    if server == GROUP_SERVER:
        return
    if server == LID_SERVER:
        if not knows_lid(user):
            raise PermanentSendError(
                f"{message.to} is not a contact of this phone and has no known phone number",
                code="lid_without_mapping",
            )
        return
    if server != PHONE_SERVER or not user.isdigit() or not on_whatsapp(user):
        raise PermanentSendError(f"{message.to} is not on WhatsApp", code="invalid_recipient")


def check_change_target(message: OutgoingMessage, sent: Mapping[str, SentRecord]) -> None:
    """An edit or revoke must name a message this device sent into the same chat, as
    WhatsApp's servers require."""
    if message.type not in CHANGE_TYPES:
        return
    target = sent.get(message.target or "")
    if target is None or target.to != message.to or target.type in CHANGE_TYPES:
        raise PermanentSendError(
            f"{message.to} has no message {message.target!r} from this device to change",
            code="unknown_message",
        )
