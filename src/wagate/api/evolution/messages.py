"""Evolution's send routes, queued as wagate sends (guardrails, idempotency, receipts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Header, status
from pydantic import BaseModel, ConfigDict, Field

from wagate.api.deps import (
    AcceptorDep,
    DatabaseDep,
    OutboxDep,
)
from wagate.api.evolution import shapes
from wagate.api.evolution.base import CallerDep, evolution_router, load_instance
from wagate.domain import (
    MessageType,
    OutboundMedia,
    OutboundMessageRequest,
)
from wagate.store.models import Session

if TYPE_CHECKING:
    pass

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


class SendText(EvolutionSend):
    text: str = Field(min_length=1, max_length=65536)
    linkPreview: bool | None = None


async def _queue(
    acceptor: AcceptorDep,
    outbox: OutboxDep,
    row: Session,
    request: OutboundMessageRequest,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """Accepted as ``POST /v1/sessions/{id}/messages`` accepts a send; the message."""
    accepted = await acceptor.accept(row, request, idempotency_key or None)
    if accepted.created:
        outbox.wake(row.id)
    return accepted.json


@router.post("/message/sendText/{instance}", status_code=status.HTTP_201_CREATED)
async def send_text(
    instance: str,
    body: SendText,
    acceptor: AcceptorDep,
    outbox: OutboxDep,
    caller: CallerDep,
    db: DatabaseDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> dict[str, Any]:
    """Queued like ``POST /v1/sessions/{id}/messages`` (guardrails, idempotency with an
    ``Idempotency-Key``)."""
    row = await load_instance(db, instance, caller)
    request = OutboundMessageRequest(
        to=body.number, text=body.text, reply_to=body.reply_to(), humanize=body.humanize()
    )
    message = await _queue(acceptor, outbox, row, request, idempotency_key)
    return shapes.sent_message(message, row.id)


class SendMedia(EvolutionSend):
    mediatype: Literal["image", "video", "document", "audio"]
    media: str = Field(min_length=1, description="a URL, or the file in base64")
    mimetype: str | None = Field(default=None, max_length=255)
    caption: str | None = Field(default=None, max_length=65536)
    fileName: str | None = Field(default=None, max_length=255)


@router.post("/message/sendMedia/{instance}", status_code=status.HTTP_201_CREATED)
async def send_media(
    instance: str,
    body: SendMedia,
    acceptor: AcceptorDep,
    outbox: OutboxDep,
    caller: CallerDep,
    db: DatabaseDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> dict[str, Any]:
    """An image, video, document or audio file, by URL or in base64, queued like a send."""
    row = await load_instance(db, instance, caller)
    by_url = body.media.startswith(("http://", "https://"))
    request = OutboundMessageRequest(
        to=body.number,
        type=MessageType(body.mediatype),
        media=OutboundMedia(
            url=body.media if by_url else None,
            base64=None if by_url else body.media,
            mime_type=body.mimetype,
            file_name=body.fileName,
            caption=body.caption,
        ),
        reply_to=body.reply_to(),
        humanize=body.humanize(),
    )
    message = await _queue(acceptor, outbox, row, request, idempotency_key)
    return shapes.sent_message(message, row.id)
