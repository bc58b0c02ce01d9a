"""Request bodies of the simulator control routes (``/v1/simulator/{session_id}/...``).

They describe what happens on the simulated network in a person's terms
("Ana sends a photo in the family group") and are turned into wire payloads
by :mod:`wagate.transports.simulator.wire`.
"""

from __future__ import annotations

import base64
import binascii
import random
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wagate.domain import (
    ContactCard,
    InvalidDestination,
    Location,
    PresenceState,
    is_group,
    normalize_destination,
    normalize_phone,
    split_jid,
)

InboundType = Literal[
    "text",
    "image",
    "video",
    "audio",
    "voice",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
    "interactive",
    "edit",
    "revoke",
    "poll_vote",
    "unsupported",
]
MEDIA_KINDS: frozenset[str] = frozenset({"image", "video", "audio", "voice", "document", "sticker"})
DEFAULT_MEDIA_SIZE = 1024
MAX_MEDIA_SIZE = 16 * 1024 * 1024
VOICE_MIME = "audio/ogg; codecs=opus"  # what WhatsApp's phones record voice notes in
DEFAULT_MIME = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/mpeg",
    "voice": VOICE_MIME,
    "document": "application/pdf",
    "sticker": "image/webp",
}

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)


def _phone(value: str) -> str:
    try:
        return normalize_phone(value)
    except InvalidDestination as exc:
        raise ValueError(exc.message) from None


def _group(value: str) -> str:
    """A group id or JID -> the group's JID."""
    try:
        jid = normalize_destination(value if "@" in value else f"{value}@g.us")
    except InvalidDestination:
        jid = None
    if jid is None or not is_group(jid):
        raise ValueError(
            f"{value!r} is not a group id: use '<digits>@g.us', '120363...' or '<creator>-<time>'"
        )
    return jid


LidDigits = Annotated[str, Field(pattern=r"^\d{6,20}$", description="the digits of an @lid")]


class SimulatorMedia(BaseModel):
    """An attachment. Without ``base64``, ``size`` deterministic bytes are generated."""

    model_config = _STRICT

    mime_type: str | None = Field(default=None, max_length=255, description="default by type")
    file_name: str | None = Field(default=None, max_length=255)
    base64: str | None = None
    size: int | None = Field(default=None, ge=0, le=MAX_MEDIA_SIZE)
    caption: str | None = Field(default=None, max_length=65536)

    @model_validator(mode="after")
    def _size_matches(self) -> SimulatorMedia:
        if self.base64 is not None:
            try:
                data = base64.b64decode(self.base64, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("media.base64 is not valid base64") from None
            if len(data) > MAX_MEDIA_SIZE:
                raise ValueError(f"media is larger than {MAX_MEDIA_SIZE} bytes")
            if self.size is not None and self.size != len(data):
                raise ValueError(f"media.size is {self.size} but base64 holds {len(data)} bytes")
        return self

    def data(self, seed: str) -> bytes:
        """The attachment's bytes: decoded, or ``size`` bytes derived from ``seed``."""
        if self.base64 is not None:
            return base64.b64decode(self.base64)
        size = DEFAULT_MEDIA_SIZE if self.size is None else self.size
        return _filler(seed, size)


def _filler(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)  # cheap and reproducible; not a secret


class SimulatorReaction(BaseModel):
    model_config = _STRICT

    message_id: str = Field(min_length=1, max_length=256, description="WhatsApp id of the target")
    emoji: str | None = Field(default=None, max_length=32, description="null or '' removes it")


class SimulatorInbound(BaseModel):
    """``POST /v1/simulator/{session_id}/inbound``: someone sends the session's phone a message.

    With ``from_me`` the phone's owner typed it on the phone; ``from`` (or ``to``)
    then names the chat partner. With ``group`` it is a group message and
    ``from`` is the participant who wrote it.
    """

    model_config = _STRICT

    from_: str | None = Field(default=None, alias="from", description="the sender's phone digits")
    to: str | None = Field(default=None, description="with from_me: the chat partner")
    type: InboundType = "text"
    text: str | None = Field(default=None, max_length=65536)
    group: str | None = Field(default=None, description="group id or JID")
    from_me: bool = False
    push_name: str | None = Field(default=None, max_length=128)
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,128}$")
    lid: LidDigits | None = None
    hide_phone: bool = False
    media: SimulatorMedia | None = None
    location: Location | None = None
    contacts: list[ContactCard] | None = Field(default=None, min_length=1, max_length=100)
    reaction: SimulatorReaction | None = None
    reply_to: str | None = Field(default=None, min_length=1, max_length=256)
    message_id: str | None = Field(default=None, min_length=1, max_length=256)
    options: list[Annotated[str, Field(max_length=100)]] | None = Field(
        default=None,
        max_length=12,
        description="a poll_vote's choice: the chosen options' names ([] withdraws the vote)",
    )
    timestamp: datetime | None = None

    @field_validator("from_", "to")
    @classmethod
    def _digits(cls, value: str | None) -> str | None:
        return None if value is None else _phone(value)

    @field_validator("group")
    @classmethod
    def _group_jid(cls, value: str | None) -> str | None:
        return None if value is None else _group(value)

    @field_validator("lid", mode="before")
    @classmethod
    def _lid_digits(cls, value: object) -> object:
        return split_jid(value)[0] if isinstance(value, str) and value.endswith("@lid") else value

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _consistent(self) -> SimulatorInbound:
        self._check_addressing()
        self._check_parts()
        return self

    def _check_addressing(self) -> None:
        if self.to is not None and not self.from_me:
            raise ValueError("'to' names the chat partner of a from_me message; use 'from'")
        if self.from_ is None and not (self.from_me and (self.to or self.group)):
            raise ValueError("'from' is required")
        if self.hide_phone and self.lid is None:
            raise ValueError("hide_phone needs 'lid': the network must show some id")

    def _check_parts(self) -> None:
        t = self.type
        if t == "text" and not (self.text and self.text.strip()):
            raise ValueError("a text message needs a non-empty 'text'")
        if t in MEDIA_KINDS and self.media is None:
            raise ValueError(f"a {t} message needs 'media'")
        if t not in MEDIA_KINDS and self.media is not None:
            raise ValueError(f"'media' does not belong in a {t} message")
        if t == "location" and self.location is None:
            raise ValueError("a location message needs 'location'")
        if t == "contacts" and not self.contacts:
            raise ValueError("a contacts message needs 'contacts'")
        if t == "reaction" and self.reaction is None:
            raise ValueError("a reaction message needs 'reaction'")
        if t == "interactive" and not self.text:
            raise ValueError("an interactive reply needs 'text' (the chosen option's title)")
        if t == "edit" and not (self.message_id and self.text):
            raise ValueError("an edit needs 'message_id' (the edited message) and the new 'text'")
        if t == "revoke" and not self.message_id:
            raise ValueError("a revoke needs 'message_id' (the deleted message)")
        if t == "poll_vote" and not (self.message_id and self.options is not None):
            raise ValueError("a poll_vote needs 'message_id' (the poll) and 'options'")
        if self.message_id is not None and t not in ("edit", "revoke", "poll_vote"):
            raise ValueError("'message_id' names the target of an edit, revoke or poll_vote")
        if self.options is not None and t != "poll_vote":
            raise ValueError("'options' belong in a poll_vote")

    @property
    def partner(self) -> str | None:
        """Phone digits of the other person: the sender, or with from_me the recipient."""
        return (self.to or self.from_) if self.from_me else self.from_


class SimulatorPresence(BaseModel):
    """``POST /v1/simulator/{session_id}/presence``: a contact starts or stops typing."""

    model_config = _STRICT

    from_: str = Field(alias="from")
    state: Literal["composing", "recording", "paused", "available", "unavailable"]
    group: str | None = None

    @field_validator("from_")
    @classmethod
    def _digits(cls, value: str) -> str:
        return _phone(value)

    @field_validator("group")
    @classmethod
    def _group_jid(cls, value: str | None) -> str | None:
        return None if value is None else _group(value)

    @property
    def presence(self) -> PresenceState:
        return PresenceState(self.state)


class SimulatorDisconnect(BaseModel):
    """``POST /v1/simulator/{session_id}/disconnect``: the network closes the connection."""

    model_config = _STRICT

    code: int = Field(ge=100, le=999, description="WhatsApp close code: 401, 403, 428, 440, 515...")


class SimulatorPair(BaseModel):
    """``POST /v1/simulator/{session_id}/pair``: the owner types the pairing code on the phone."""

    model_config = _STRICT

    code: str = Field(min_length=8, max_length=9)


class SimulatorCall(BaseModel):
    """``POST /v1/simulator/{session_id}/call``: a contact calls the phone."""

    model_config = _STRICT

    from_: str = Field(alias="from")
    video: bool = False

    @field_validator("from_")
    @classmethod
    def _digits(cls, value: str) -> str:
        return _phone(value)


class SimulatorSendFailures(BaseModel):
    """Fault injection: make the session's next sends fail."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=10_000)
    code: str = Field(default="network_timeout", pattern=r"^[a-z][a-z0-9_]{0,63}$")
    transient: bool = Field(default=True, description="retried by the gateway when true")
    retry_after_s: float | None = Field(default=None, ge=0, le=3600)


class SimulatorDecryptStorm(BaseModel):
    """Fault injection: messages that fail to decrypt ("Bad MAC") arrive from a contact."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    count: int = Field(ge=1, le=100_000)
    from_: str = Field(default="5511900000000", alias="from", pattern=r"^\d{8,15}$")


class SimulatorAccount(BaseModel):
    """``POST /v1/simulator/{id}/accounts``: how the simulated network knows a number, for
    this session's number checks (``contacts/check``, and the check before a first send)."""

    model_config = _STRICT

    phone: str = Field(min_length=1, max_length=32, description="the number as people write it")
    jid: str | None = Field(
        default=None,
        pattern=r"^\d{6,20}@s\.whatsapp\.net$",
        description="where the account lives, e.g. an older Brazilian one at its 8-digit "
        "number (`551188887777@s.whatsapp.net`); default the number's own JID",
    )
    on_whatsapp: bool = True

    @field_validator("phone")
    @classmethod
    def _digits(cls, value: str) -> str:
        try:
            return normalize_phone(value)
        except InvalidDestination as exc:
            raise ValueError(exc.message) from None


class SimulatorSlowNetwork(BaseModel):
    """Fault injection: every round trip of the session's connection takes longer."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(ge=0, le=600_000, description="added to every round trip; 0 clears")


class SimulatorUnknownEvent(BaseModel):
    """Fault injection: an event of a type wagate does not handle reaches the session."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(default="newsletter_update", pattern=r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")


class SimulatorGroupEvent(BaseModel):
    """``POST /v1/simulator/{session_id}/group-event``: someone else changes a group the
    phone is in (or adds the phone to one): WhatsApp notifies the phone."""

    model_config = _STRICT

    group: str = Field(description="group id or JID")
    change: Literal["joined", "left", "promoted", "demoted"]
    participants: list[str] = Field(min_length=1, max_length=256, description="phone digits")
    by: str | None = Field(default=None, description="who made the change (phone digits)")

    @field_validator("group")
    @classmethod
    def _group_jid(cls, value: str) -> str:
        return _group(value)

    @field_validator("participants")
    @classmethod
    def _digits(cls, value: list[str]) -> list[str]:
        return [_phone(v) for v in value]

    @field_validator("by")
    @classmethod
    def _by(cls, value: str | None) -> str | None:
        return None if value is None else _phone(value)


class SimulatorOutage(BaseModel):
    """``POST /v1/simulator/outage``: the network drops every connection at once."""

    model_config = ConfigDict(extra="forbid")

    code: int = Field(default=428, ge=100, le=999, description="the close code every session gets")


class SimulatorReceipt(BaseModel):
    """``POST /v1/simulator/{session_id}/receipt``: the recipient reports a message's status."""

    model_config = ConfigDict(extra="forbid")

    wa_message_id: str = Field(min_length=1, max_length=256)
    status: Literal["delivered", "read", "played"]
