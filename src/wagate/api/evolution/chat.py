"""Evolution's chat routes: numbers on WhatsApp, read receipts, presence, and finding
messages."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wagate.api.deps import DatabaseDep, RegistryDep, RemoteDep
from wagate.api.evolution import shapes
from wagate.api.evolution.base import CallerDep, evolution_router, load_instance
from wagate.api.routes.chats import send_read_receipts
from wagate.domain import InvalidRequest, normalize_destination, normalize_phone
from wagate.events.evolution import message_data
from wagate.store.repositories import messages
from wagate.store.serialize import message_json

router = evolution_router()


class NumbersBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    numbers: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=100
    )


@router.post("/chat/whatsappNumbers/{instance}")
async def whatsapp_numbers(
    instance: str, body: NumbersBody, remote: RemoteDep, caller: CallerDep, db: DatabaseDep
) -> list[dict[str, Any]]:
    """Which numbers have a WhatsApp account, and at which JID (asked of WhatsApp); one
    that is no phone number at all is simply not on WhatsApp, as Evolution answers."""
    row = await load_instance(db, instance, caller)
    valid: dict[str, str] = {}
    for number in body.numbers:
        try:
            valid[number] = normalize_phone(number)
        except InvalidRequest:
            continue
    items: dict[str, dict[str, Any]] = {}
    if valid:
        found = await remote.call(row.id, "check_numbers", {"phones": list(valid.values())})
        items = {str(item.get("phone")): item for item in found["items"]}
    answers = []
    for number in body.numbers:
        digits = valid.get(number) or "".join(filter(str.isdigit, number))
        answers.append(items.get(digits, {"phone": digits, "on_whatsapp": False}))
    return shapes.whatsapp_numbers(answers)


class MessageKey(BaseModel):
    model_config = ConfigDict(extra="allow")

    remoteJid: str | None = Field(default=None, min_length=1, max_length=128)
    fromMe: bool | None = None
    id: str | None = Field(default=None, min_length=1, max_length=256)


class ReadBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    readMessages: list[MessageKey] = Field(min_length=1, max_length=100)


@router.post("/chat/markMessageAsRead/{instance}", status_code=201)
async def mark_message_as_read(
    instance: str,
    body: ReadBody,
    registry: RegistryDep,
    remote: RemoteDep,
    caller: CallerDep,
    db: DatabaseDep,
) -> dict[str, Any]:
    """Read receipts (blue ticks) for the messages, chat by chat."""
    row = await load_instance(db, instance, caller)
    registry.require(row.transport, "read receipts", lambda c: c.read_receipts)
    by_chat: dict[str, list[str]] = {}
    for key in body.readMessages:
        if key.remoteJid and key.id:
            by_chat.setdefault(normalize_destination(key.remoteJid), []).append(key.id)
    for chat, refs in by_chat.items():
        await send_read_receipts(db, remote, row.id, chat, refs)
    return {"message": "Read messages", "read": "success"}


class PresenceBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    number: str = Field(min_length=1, max_length=128)
    presence: Literal["composing", "recording", "paused", "available", "unavailable"]
    delay: int | None = Field(default=None, ge=0, le=300_000, description="ms; not waited for")


@router.post("/chat/sendPresence/{instance}", status_code=201)
async def send_presence(
    instance: str,
    body: PresenceBody,
    registry: RegistryDep,
    remote: RemoteDep,
    caller: CallerDep,
    db: DatabaseDep,
) -> dict[str, Any]:
    """Show typing, recording or paused in a chat (``delay`` is not waited for: wagate's
    own sends show typing by their pacing)."""
    row = await load_instance(db, instance, caller)
    registry.require(row.transport, "presence", lambda c: c.presence)
    chat = normalize_destination(body.number)
    await remote.call(row.id, "presence", {"chat": chat, "state": body.presence})
    return {"presence": body.presence}


class FindWhere(BaseModel):
    model_config = ConfigDict(extra="allow")

    key: MessageKey = Field(default_factory=MessageKey)


class FindBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    where: FindWhere = Field(default_factory=FindWhere)
    page: int = Field(default=1, ge=1)
    offset: int = Field(default=50, ge=1, le=500, description="messages per page")


@router.post("/chat/findMessages/{instance}")
async def find_messages(
    instance: str, body: FindBody, caller: CallerDep, db: DatabaseDep
) -> dict[str, Any]:
    """The instance's messages, newest first, by chat (``where.key.remoteJid``), by
    ``fromMe`` or by id; numbered pages of ``offset`` messages."""
    row = await load_instance(db, instance, caller)
    key = body.where.key
    where = messages.MessageFilter(
        chat_id=normalize_destination(key.remoteJid) if key.remoteJid else None,
        from_me=key.fromMe,
        wa_message_id=key.id,
    )
    async with db.read() as tx:
        rows, total = await messages.page_of_messages(
            tx, row.id, where, page=body.page, size=body.offset
        )
    records = [{"id": m.id, **message_data(message_json(m), row.id)} for m in rows]
    return {
        "messages": {
            "total": total,
            "pages": math.ceil(total / body.offset),
            "currentPage": body.page,
            "records": records,
        }
    }
