"""The transport contract: what every WhatsApp engine must do for wagate.

A transport is one session's connection to WhatsApp. It is small on purpose:
open, close, log out, send one normalized message, and a few courtesies
(presence, read receipts). Everything it observes (QR codes, connection
changes, inbound messages, receipts, presence) goes to the session's
:class:`EventSink` as a normalized :data:`~wagate.domain.TransportEvent`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self

from wagate.domain import (
    Clock,
    Jid,
    MessageType,
    OutgoingMessage,
    PresenceState,
    SendResult,
    TransportEvent,
    UnsupportedByTransport,
)
from wagate.domain.groups import GroupAction
from wagate.domain.profiles import ProfileAction


class EventSink(Protocol):
    """Where a transport reports what happened. Awaiting it applies back-pressure."""

    async def __call__(self, event: TransportEvent, /) -> None: ...


class EventSubmit(Protocol):
    """The sink in two steps, for transports that report many events at once.

    Awaiting the call takes the event in order (what the transport reports
    next is handled after it); awaiting what it returns waits until the event
    is committed. A transport that holds its own ordering lock releases it
    between the two, so the events of many callers commit together instead of
    one transaction after another.
    """

    async def __call__(self, event: TransportEvent, /) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a transport can do; the API answers 422 for anything else."""

    qr: bool = False  # logs in by scanning a QR code
    pairing_code: bool = False  # logs in by a code typed on the phone
    presence: bool = False  # can show typing/recording
    read_receipts: bool = False  # can mark messages read
    choose_message_id: bool = False  # the caller may fix the WhatsApp id before sending
    lid_destinations: bool = False  # can send to an @lid JID directly
    keepalive: bool = False  # answers keepalive pings (the watchdog uses them)
    check_numbers: bool = False  # can tell whether phone numbers are on WhatsApp
    groups: bool = False  # can create, read and run groups (participants, invite links)
    profile: bool = False  # can change its own profile, read contacts' profiles, block
    proxy: bool = False  # connects through the session's proxy_url
    message_types: frozenset[MessageType] = field(default_factory=frozenset)

    def require(self, what: str, supported: bool) -> None:
        if not supported:
            raise UnsupportedByTransport(f"this session's transport does not support {what}")


@dataclass(frozen=True, slots=True)
class NumberCheck:
    """Whether one phone number has a WhatsApp account, and its JID if so."""

    phone: str  # the digits asked about
    on_whatsapp: bool
    jid: str | None = None


@dataclass(slots=True)
class TransportContext:
    """Everything a transport needs from the session that owns it."""

    session_id: str
    session_name: str
    config: dict[str, Any]
    credentials: dict[str, Any] | None
    data_dir: Path
    clock: Clock
    sink: EventSink
    proxy_url: str | None = None
    submit: EventSubmit | None = None  # the sink in two steps, where the session offers it
    lease_token: int | None = None  # the worker's fencing token for the session (fleet)

    async def hand_over(self, event: TransportEvent) -> Awaitable[None]:
        """Take ``event`` in order; the returned awaitable completes once it is committed."""
        if self.submit is not None:
            return await self.submit(event)
        await self.sink(event)
        return _committed()


async def _committed() -> None:
    """An event the sink already committed."""


class Transport(ABC):
    """One session's connection to WhatsApp."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(self, context: TransportContext) -> None:
        self.context = context

    @abstractmethod
    async def connect(self) -> None:
        """Start connecting. Returns once the attempt is under way; outcomes arrive as events."""

    @abstractmethod
    async def close(self) -> None:
        """Close the connection and stop reporting events; credentials are kept."""

    @abstractmethod
    async def logout(self) -> None:
        """Unlink this device from the account and forget the credentials."""

    @abstractmethod
    async def send(self, message: OutgoingMessage) -> SendResult:
        """Transmit one message. Raises a TransportError subclass on failure.

        Sending the same ``wa_message_id`` twice must be safe where
        ``capabilities.choose_message_id`` is true: the network keeps one copy.
        """

    async def request_pairing_code(self, phone: str) -> str:
        """Ask for a code to type on the phone instead of scanning a QR."""
        raise UnsupportedByTransport("this session's transport has no pairing codes")

    async def keepalive(self) -> None:
        """Ping the server; returns when it answers (the watchdog times it out)."""
        raise UnsupportedByTransport("this session's transport has no keepalive")

    async def subscribe_presence(self, chat_id: Jid) -> None:
        """Ask to be told when the person in a chat is online or typing."""
        raise UnsupportedByTransport("this session's transport cannot subscribe to presence")

    async def send_presence(self, chat_id: Jid, state: PresenceState) -> None:
        """Show typing/recording/paused in a chat."""
        raise UnsupportedByTransport("this session's transport cannot show presence")

    async def mark_read(self, chat_id: Jid, wa_message_ids: list[str], sender: str | None) -> None:
        """Send read receipts for inbound messages."""
        raise UnsupportedByTransport("this session's transport cannot send read receipts")

    async def check_numbers(self, phones: list[str]) -> list[NumberCheck]:
        """Ask WhatsApp which of these phone numbers (digits) have an account."""
        raise UnsupportedByTransport("this session's transport cannot look numbers up")

    async def group_info(self, group: Jid) -> dict[str, Any]:
        """A group's name, topic and participants."""
        raise UnsupportedByTransport("this session's transport cannot fetch group info")

    async def manage_group(self, action: GroupAction) -> dict[str, Any]:
        """Create a group or change one (:mod:`wagate.domain.groups`): the group as
        :func:`~wagate.domain.groups.group_json` shows it, or for participant changes
        ``{"items": [{"jid", "ok", "error"}]}``, or for an invite link ``{"link"}``."""
        raise UnsupportedByTransport("this session's transport cannot manage groups")

    async def manage_profile(self, action: ProfileAction) -> dict[str, Any]:
        """The session's own profile, a contact's profile, or a block (see
        :mod:`wagate.domain.profiles` for what each answers)."""
        raise UnsupportedByTransport("this session's transport cannot manage profiles")

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
