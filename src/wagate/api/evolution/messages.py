"""Evolution's send routes, queued as wagate sends (guardrails, idempotency, receipts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, status
from pydantic import BaseModel, ConfigDict, Field

from wagate.api.deps import (
    AcceptorDep,
    DatabaseDep,
    OutboxDep,
)
from wagate.api.evolution import shapes
from wagate.api.evolution.base import CallerDep, evolution_router, load_instance
from wagate.api.principal import Principal
from wagate.domain import (
    ContactCard,
    InvalidRequest,
    Location,
    MessageType,
    OutboundMedia,
    OutboundMessageRequest,
    OutboundReaction,
    Poll,
)
from wagate.outbox import OutboundAcceptor, Outbox
from wagate.store import Database

router = evolution_router()


class Quoted(BaseModel):
    model_config = ConfigDict(extra="allow")

    key: dict[str, Any] = Field(default_factory=dict)


class EvolutionSend(BaseModel):
    """What every Evolution send carries: the recipient, ``delay`` and ``quoted``."""

    model_config = ConfigDict(extra="allow")

    number: str = Field(min_length=1, max_length=128)
    delay: int | None = Field(default=None, ge=0, le=3_600_000, description="ms of typing")
    quoted: Quoted | None = None

    def reply_to(self) -> str | None:
        quoted_id = self.quoted.key.get("id") if self.quoted else None
        return str(quoted_id) if quoted_id else None

    def humanize(self) -> bool | None:
        """``delay`` above 0 shows typing first (wagate's own pacing), 0 sends at once."""
        return None if self.delay is None else self.delay > 0

    def request(self, **fields: Any) -> OutboundMessageRequest:
        """wagate's send request for this recipient, reply and pacing, with ``fields``."""
        return OutboundMessageRequest(
            to=self.number, reply_to=self.reply_to(), humanize=self.humanize(), **fields
        )


@dataclass(frozen=True, slots=True)
class Sends:
    """The way every Evolution send goes: into wagate's queue as ``POST
    /v1/sessions/{id}/messages`` puts it (guardrails, idempotency with an
    ``Idempotency-Key``), answered with the message in Evolution's shape."""

    acceptor: OutboundAcceptor
    outbox: Outbox
    db: Database
    caller: Principal
    idempotency_key: str | None

    async def send(self, instance: str, request: OutboundMessageRequest) -> dict[str, Any]:
        row = await load_instance(self.db, instance, self.caller)
        accepted = await self.acceptor.accept(row, request, self.idempotency_key or None)
        if accepted.created:
            self.outbox.wake(row.id)
        return shapes.sent_message(accepted.json, row.id)


def _sends(
    acceptor: AcceptorDep,
    outbox: OutboxDep,
    db: DatabaseDep,
    caller: CallerDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Sends:
    return Sends(acceptor, outbox, db, caller, idempotency_key)


SendsDep = Annotated[Sends, Depends(_sends)]
CREATED = status.HTTP_201_CREATED


def _file(media: str) -> dict[str, str | None]:
    """Evolution's ``media``/``audio``: a URL (fetched when sent), or the file in base64
    (a ``data:`` URL's prefix is dropped)."""
    if media.startswith(("http://", "https://")):
        return {"url": media, "base64": None}
    return {"url": None, "base64": media.split(",", 1)[1] if media.startswith("data:") else media}


class SendText(EvolutionSend):
    text: str = Field(min_length=1, max_length=65536)
    linkPreview: bool | None = None


@router.post("/message/sendText/{instance}", status_code=CREATED)
async def send_text(instance: str, body: SendText, sends: SendsDep) -> dict[str, Any]:
    """A text; ``linkPreview`` is accepted and ignored (wagate builds no link previews)."""
    return await sends.send(instance, body.request(text=body.text))


class SendMedia(EvolutionSend):
    mediatype: Literal["image", "video", "document", "audio"]
    media: str = Field(min_length=1, description="a URL, or the file in base64")
    mimetype: str | None = Field(default=None, max_length=255)
    caption: str | None = Field(default=None, max_length=65536)
    fileName: str | None = Field(default=None, max_length=255)


@router.post("/message/sendMedia/{instance}", status_code=CREATED)
async def send_media(instance: str, body: SendMedia, sends: SendsDep) -> dict[str, Any]:
    """An image, video, document or audio file, by URL or in base64."""
    media = OutboundMedia(
        **_file(body.media), mime_type=body.mimetype, file_name=body.fileName, caption=body.caption
    )
    return await sends.send(instance, body.request(type=MessageType(body.mediatype), media=media))


class SendAudio(EvolutionSend):
    audio: str = Field(min_length=1, description="a URL, or the file in base64")
    encoding: bool | None = None  # Evolution converts to Opus when true; wagate always does


@router.post("/message/sendWhatsAppAudio/{instance}", status_code=CREATED)
async def send_whatsapp_audio(instance: str, body: SendAudio, sends: SendsDep) -> dict[str, Any]:
    """A voice note (push to talk): wagate converts the file to OGG/Opus when needed."""
    media = OutboundMedia(**_file(body.audio))
    return await sends.send(instance, body.request(type=MessageType.VOICE, media=media))


class SendLocation(EvolutionSend):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = Field(default=None, max_length=1000)
    address: str | None = Field(default=None, max_length=1000)


@router.post("/message/sendLocation/{instance}", status_code=CREATED)
async def send_location(instance: str, body: SendLocation, sends: SendsDep) -> dict[str, Any]:
    where = Location(
        latitude=body.latitude, longitude=body.longitude, name=body.name, address=body.address
    )
    return await sends.send(instance, body.request(type=MessageType.LOCATION, location=where))


class EvolutionContact(BaseModel):
    model_config = ConfigDict(extra="allow")  # organization, email, url: not in wagate's card

    fullName: str = Field(min_length=1, max_length=256)
    wuid: str | None = Field(default=None, max_length=64)
    phoneNumber: str | None = Field(default=None, max_length=64)

    def card(self) -> ContactCard:
        phone = self.phoneNumber or self.wuid
        if not phone:
            raise InvalidRequest(f"contact {self.fullName!r} needs a phoneNumber or a wuid")
        return ContactCard(name=self.fullName, phone=phone)


class SendContact(EvolutionSend):
    contact: list[EvolutionContact] = Field(min_length=1, max_length=1)


@router.post("/message/sendContact/{instance}", status_code=CREATED)
async def send_contact(instance: str, body: SendContact, sends: SendsDep) -> dict[str, Any]:
    """One contact card (wagate sends one per message: send several cards one by one)."""
    card = body.contact[0].card()
    return await sends.send(instance, body.request(type=MessageType.CONTACT, contact=card))


class ReactionKey(BaseModel):
    model_config = ConfigDict(extra="allow")

    remoteJid: str = Field(min_length=1, max_length=128)
    fromMe: bool = True
    id: str = Field(min_length=1, max_length=256)


class SendReaction(BaseModel):
    model_config = ConfigDict(extra="allow")

    key: ReactionKey
    reaction: str = Field(max_length=32, description="an emoji; empty removes the reaction")


@router.post("/message/sendReaction/{instance}", status_code=CREATED)
async def send_reaction(instance: str, body: SendReaction, sends: SendsDep) -> dict[str, Any]:
    """A reaction to ``key.id`` (a WhatsApp id, or wagate's) in ``key.remoteJid``."""
    reaction = OutboundReaction(message_id=body.key.id, emoji=body.reaction)
    request = OutboundMessageRequest(
        to=body.key.remoteJid, type=MessageType.REACTION, reaction=reaction
    )
    return await sends.send(instance, request)


class SendPoll(EvolutionSend):
    name: str = Field(min_length=1, max_length=255)
    selectableCount: int = Field(default=1, ge=0)
    values: list[str] = Field(min_length=2)


@router.post("/message/sendPoll/{instance}", status_code=CREATED)
async def send_poll(instance: str, body: SendPoll, sends: SendsDep) -> dict[str, Any]:
    poll = Poll(name=body.name, options=body.values, selectable_count=body.selectableCount)
    return await sends.send(instance, body.request(type=MessageType.POLL, poll=poll))
