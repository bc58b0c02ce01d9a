"""What a transport reports, normalized: the same events whatever the engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wagate.domain.enums import MessageStatus, PresenceState
from wagate.domain.groups import GroupChanged
from wagate.domain.messages import InboundMedia, InboundMessage, MessageEdit, MessageRevoke


@dataclass(frozen=True, slots=True)
class QrUpdated:
    """A new QR code to scan; the previous one is no longer valid."""

    qr: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PairingCodeIssued:
    code: str
    phone: str


@dataclass(frozen=True, slots=True)
class CredentialsUpdated:
    """The transport's login material changed; persist it (None wipes it)."""

    credentials: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Connected:
    phone: str | None
    push_name: str | None = None
    lid: str | None = None


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection closed. ``code`` follows WhatsApp's close codes (401 logged out, 428...)."""

    code: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MessageReceived:
    message: InboundMessage
    media: InboundMedia | None = None


@dataclass(frozen=True, slots=True)
class MessageEdited:
    edit: MessageEdit


@dataclass(frozen=True, slots=True)
class MessageRevoked:
    revoke: MessageRevoke


@dataclass(frozen=True, slots=True)
class ReceiptReceived:
    """Messages moved on (delivered, read...). A ``failed`` receipt carries why: engines
    that report failures after accepting a send (the Cloud API) give a machine-readable
    ``error_code`` and a human ``error_message``."""

    wa_message_ids: tuple[str, ...]
    status: MessageStatus
    chat_id: str
    timestamp: datetime
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    chat_id: str
    participant: str
    state: PresenceState


@dataclass(frozen=True, slots=True)
class CallReceived:
    call_id: str
    caller: str
    video: bool
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class IdentityLearned:
    """The network told us that a phone number and an @lid are the same person."""

    phone: str
    lid: str
    push_name: str | None = None


@dataclass(frozen=True, slots=True)
class PollVoted:
    """A person's whole current choice in a poll this session sent: a new vote replaces
    their earlier one, and an empty choice withdraws it. WhatsApp encrypts votes so that
    an engine may only see the SHA-256 of each chosen option's name; it then reports
    ``option_hashes`` and wagate matches them against the poll's options."""

    poll_wa_message_id: str
    chat_id: str
    voter: str
    timestamp: datetime
    options: tuple[str, ...] | None = None
    option_hashes: tuple[bytes, ...] | None = None


@dataclass(frozen=True, slots=True)
class DecryptFailed:
    """A message could not be decrypted ("Bad MAC"): the Signal session may be corrupt."""

    chat_id: str
    error: str = "bad_mac"


@dataclass(frozen=True, slots=True)
class Unparseable:
    """A payload no normalizer understood; it goes to the dead-letter table."""

    source: str
    reason: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UnknownEventType:
    """The engine reported an event of a type wagate does not handle (a new WhatsApp
    feature, an engine upgrade). Nothing is stored; the protocol monitor counts it."""

    source: str
    kind: str


TransportEvent = (
    QrUpdated
    | PairingCodeIssued
    | CredentialsUpdated
    | Connected
    | Disconnected
    | MessageReceived
    | MessageEdited
    | MessageRevoked
    | PollVoted
    | GroupChanged
    | ReceiptReceived
    | PresenceChanged
    | CallReceived
    | IdentityLearned
    | DecryptFailed
    | Unparseable
    | UnknownEventType
)
