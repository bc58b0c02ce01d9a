"""What the simulated network saw, kept for tests and the control routes to inspect."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wagate.domain import MessageStatus, PresenceState


@dataclass(frozen=True, slots=True)
class VirtualContact:
    """A person in a virtual phone's address book. ``lid`` is digits, when the network has one."""

    phone: str
    name: str
    lid: str | None = None


@dataclass(frozen=True, slots=True)
class Account:
    """How the network knows a phone number (declared by a test or a demo): on WhatsApp or
    not, and at which JID (an older Brazilian account lives at its 8-digit number)."""

    phone: str  # the digits as people write them
    on_whatsapp: bool
    jid: str | None  # None: not on WhatsApp


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One distinct message that reached the network (``GET /v1/simulator/{id}/sent``).

    ``text`` is the message text or caption; for a reaction, its emoji; for an edit, the
    new text. ``target`` is the WhatsApp id an edit or revoke changes.
    ``transmissions`` counts how often the gateway sent this ``wa_message_id``;
    the network kept only the first copy, as WhatsApp does.
    """

    wa_message_id: str
    message_id: str
    to: str
    type: str
    text: str | None
    transmissions: int = 1
    target: str | None = None


@dataclass(frozen=True, slots=True)
class PresenceRecord:
    """The gateway showed typing/recording/paused (or available) in a chat."""

    chat_id: str
    state: PresenceState
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """The gateway sent read receipts for inbound messages."""

    chat_id: str
    wa_message_ids: tuple[str, ...]
    sender: str | None
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class PendingReceipt:
    """A receipt the recipient will send at ``due_at``; held while the session is offline."""

    due_at: datetime
    seq: int  # orders receipts due at the same instant by when they were scheduled
    wa_message_id: str
    chat_id: str
    status: MessageStatus


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    """A snapshot of a virtual phone for the control routes."""

    session_id: str
    number: str
    push_name: str
    lid: str  # the owner's own @lid JID
    contacts: tuple[VirtualContact, ...]
    linked: bool  # a device (this session) is linked to the phone
    connected: bool  # the session's transport is connected right now
