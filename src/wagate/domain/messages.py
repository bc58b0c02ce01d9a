"""The normalized message shapes: what callers send, and what every engine's inbound becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wagate.domain.enums import MEDIA_TYPES, ChatType, MessageType
from wagate.domain.ids import Jid
from wagate.domain.policy import PacingName

# --------------------------------------------------------------------------- parts


class MediaInfo(BaseModel):
    """Media attached to a stored message. ``url`` is where wagate serves the bytes."""

    mime_type: str | None = None
    file_name: str | None = None
    size: int | None = None
    url: str | None = None
    voice: bool = False
    sha256: str | None = None


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    name: str | None = Field(default=None, max_length=1000)
    address: str | None = Field(default=None, max_length=1000)


class ContactCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    phone: str = Field(min_length=1, max_length=64)


class Reaction(BaseModel):
    """A reaction; ``emoji`` None (or empty) removes an earlier one."""

    message_id: str
    emoji: str | None = None


MAX_POLL_OPTIONS = 12


class Poll(BaseModel):
    """A poll: a question and 2 to 12 distinct options; ``selectable_count`` is how many
    options one person may choose (0: any number of them), as WhatsApp defines it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    options: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=2, max_length=MAX_POLL_OPTIONS
    )
    selectable_count: Annotated[int, Field(ge=0, le=MAX_POLL_OPTIONS)] = 1

    @model_validator(mode="after")
    def _distinct_options(self) -> Poll:
        if len(set(self.options)) != len(self.options):
            raise ValueError("poll options must be distinct")
        if self.selectable_count > len(self.options):
            raise ValueError("selectable_count is more than the number of options")
        return self


class ReplyButton(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256, description="comes back with the reply")
    title: str = Field(min_length=1, max_length=20)


class Buttons(BaseModel):
    """A text with 1 to 3 reply buttons; the person's tap comes back as an ``interactive``
    message whose text is the button's title. Meta's limits."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1024)
    buttons: list[ReplyButton] = Field(min_length=1, max_length=3)
    header: str | None = Field(default=None, max_length=60)
    footer: str | None = Field(default=None, max_length=60)

    @model_validator(mode="after")
    def _distinct(self) -> Buttons:
        if len({b.id for b in self.buttons}) != len(self.buttons):
            raise ValueError("button ids must be distinct")
        return self


class ListRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, description="comes back with the reply")
    title: str = Field(min_length=1, max_length=24)
    description: str | None = Field(default=None, max_length=72)


class ListSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=24)
    rows: list[ListRow] = Field(min_length=1, max_length=10)


class ListMenu(BaseModel):
    """A text with a button that opens a menu: sections of rows, 10 rows in all."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4096)
    button: str = Field(min_length=1, max_length=20, description="the button's label")
    sections: list[ListSection] = Field(min_length=1, max_length=10)
    header: str | None = Field(default=None, max_length=60)
    footer: str | None = Field(default=None, max_length=60)

    @model_validator(mode="after")
    def _rows(self) -> ListMenu:
        ids = [row.id for section in self.sections for row in section.rows]
        if len(ids) > 10:
            raise ValueError(f"a list holds at most 10 rows in all; this one has {len(ids)}")
        if len(set(ids)) != len(ids):
            raise ValueError("row ids must be distinct")
        return self


# --------------------------------------------------------------------------- outbound request

MAX_TEXT = 65536


class OutboundMedia(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=4096)
    base64: str | None = None
    upload: bool = Field(
        default=False, description="the file is the `file` part of this multipart request"
    )
    mime_type: str | None = Field(default=None, max_length=255)
    file_name: str | None = Field(default=None, max_length=255)
    caption: str | None = Field(default=None, max_length=MAX_TEXT)

    @model_validator(mode="after")
    def _one_source(self) -> OutboundMedia:
        if [self.url is not None, self.base64 is not None, self.upload].count(True) != 1:
            raise ValueError("media needs exactly one of 'url', 'base64' or an uploaded 'file'")
        return self


class OutboundReaction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(min_length=1, max_length=256)
    emoji: str = Field(default="", max_length=32, description="empty removes the reaction")


class OutboundMessageRequest(BaseModel):
    """What a caller posts to ``POST /v1/sessions/{id}/messages``."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=128, description="phone digits, JID or group JID")
    type: MessageType = MessageType.TEXT
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    media: OutboundMedia | None = None
    location: Location | None = None
    contact: ContactCard | None = None
    reaction: OutboundReaction | None = None
    poll: Poll | None = None
    buttons: Buttons | None = None
    list: ListMenu | None = None
    reply_to: str | None = Field(
        default=None, max_length=256, description="wagate or WhatsApp message id"
    )
    humanize: bool | None = None
    pacing: PacingName | None = Field(
        default=None,
        description="this message's typing profile (instant, fast, normal, slow) instead of "
        "the session's pacing",
    )
    ttl_s: float | None = Field(
        default=None,
        gt=0,
        le=366 * 86400,
        description="seconds to try sending before the message fails as expired; "
        "overrides the session's message_ttl_s",
    )

    @model_validator(mode="after")
    def _parts_match_type(self) -> OutboundMessageRequest:
        t = self.type
        if t in (MessageType.CONTACTS, MessageType.INTERACTIVE, MessageType.UNSUPPORTED):
            raise ValueError(f"type {t.value!r} cannot be sent")
        if t in (MessageType.EDIT, MessageType.REVOKE):
            raise ValueError(
                f"a message is changed with {'PATCH' if t is MessageType.EDIT else 'DELETE'} "
                f"/v1/messages/{{id}}, not sent as type {t.value!r}"
            )
        if t is MessageType.TEXT and not (self.text and self.text.strip()):
            raise ValueError("a text message needs a non-empty 'text'")
        if t in MEDIA_TYPES and self.media is None:
            raise ValueError(f"a {t.value} message needs 'media'")
        if t is MessageType.LOCATION and self.location is None:
            raise ValueError("a location message needs 'location'")
        if t is MessageType.CONTACT and self.contact is None:
            raise ValueError("a contact message needs 'contact'")
        if t is MessageType.REACTION and self.reaction is None:
            raise ValueError("a reaction message needs 'reaction'")
        if t is MessageType.POLL and self.poll is None:
            raise ValueError("a poll message needs 'poll'")
        if t is MessageType.BUTTONS and self.buttons is None:
            raise ValueError("a buttons message needs 'buttons'")
        if t is MessageType.LIST and self.list is None:
            raise ValueError("a list message needs 'list'")
        return self


class MessageEditRequest(BaseModel):
    """What a caller sends to ``PATCH /v1/messages/{id}``: the message's new text."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT)

    @model_validator(mode="after")
    def _not_blank(self) -> MessageEditRequest:
        if not self.text.strip():
            raise ValueError("'text' must not be blank")
        return self


# --------------------------------------------------------------------------- to a transport


@dataclass(frozen=True, slots=True)
class OutgoingMedia:
    data: bytes
    mime_type: str
    file_name: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message, ready for a transport: ids fixed, destination resolved, media loaded."""

    message_id: str  # wagate's id
    wa_message_id: str  # chosen before the first transmission, reused on every retry
    to: Jid
    type: MessageType
    text: str | None = None
    media: OutgoingMedia | None = None
    location: Location | None = None
    contact: ContactCard | None = None
    reaction: Reaction | None = None  # message_id is the target's WhatsApp id
    poll: Poll | None = None
    buttons: Buttons | None = None
    list_menu: ListMenu | None = None
    reply_to: str | None = None  # WhatsApp id of the quoted message
    target: str | None = None  # an edit's or revoke's target: WhatsApp id of our message


# --------------------------------------------------------------------------- inbound, normalized


class InboundMessage(BaseModel):
    """An inbound message as every normalizer produces it (the contract's message shape)."""

    wa_message_id: str
    chat_id: str
    chat_type: ChatType
    sender: str
    sender_phone: str | None = None
    sender_lid: str | None = None
    push_name: str | None = None
    from_me: bool = False
    type: MessageType
    text: str | None = None
    media: MediaInfo | None = None
    location: Location | None = None
    contacts: list[ContactCard] | None = None
    reaction: Reaction | None = None
    reply_to: str | None = None
    timestamp: datetime
    raw: dict[str, Any] | None = Field(default=None, exclude=True)


@dataclass(frozen=True, slots=True)
class InboundMedia:
    """Bytes of an inbound attachment, stored by the session layer under the data dir."""

    data: bytes
    mime_type: str
    file_name: str | None = None


@dataclass(frozen=True, slots=True)
class MessageEdit:
    target_wa_message_id: str
    chat_id: str
    text: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class MessageRevoke:
    target_wa_message_id: str
    chat_id: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class SendResult:
    wa_message_id: str
    timestamp: datetime
    extra: dict[str, Any] = field(default_factory=dict)
