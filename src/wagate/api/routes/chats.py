"""Courtesies in a chat: show typing or recording, and mark messages read."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from wagate.api.deps import DatabaseDep, PrincipalDep, RegistryDep, RemoteDep
from wagate.api.routes.sessions import load_session_row
from wagate.api.schemas import PresenceOut, ReadOut
from wagate.domain import normalize_destination
from wagate.sessions.remote import RemoteCalls
from wagate.store import Database
from wagate.store.repositories import messages

router = APIRouter(prefix="/v1/sessions", tags=["chats"])


class PresenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chat_id: str = Field(min_length=1, max_length=128, description="phone, JID or group JID")
    state: Literal["composing", "recording", "paused", "available", "unavailable"]


class ReadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chat_id: str = Field(min_length=1, max_length=128)
    message_ids: list[str] = Field(
        min_length=1, max_length=100, description="wagate or WhatsApp ids of inbound messages"
    )


@router.post(
    "/{session_id}/presence", status_code=status.HTTP_202_ACCEPTED, response_model=PresenceOut
)
async def send_presence(
    session_id: str,
    body: PresenceRequest,
    db: DatabaseDep,
    registry: RegistryDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Show typing (``composing``), recording or paused to the people in a chat. Any
    worker answers: the one that runs the session sends it."""
    session = await load_session_row(db, session_id, principal)
    registry.require(session.transport, "presence", lambda c: c.presence)
    chat = normalize_destination(body.chat_id)
    await remote.call(session.id, "presence", {"chat": chat, "state": body.state})
    return {"chat_id": chat, "state": body.state}


@router.post("/{session_id}/read", status_code=status.HTTP_202_ACCEPTED, response_model=ReadOut)
async def mark_read(
    session_id: str,
    body: ReadRequest,
    db: DatabaseDep,
    registry: RegistryDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Send read receipts (blue ticks) for inbound messages of a chat."""
    session = await load_session_row(db, session_id, principal)
    registry.require(session.transport, "read receipts", lambda c: c.read_receipts)
    chat = normalize_destination(body.chat_id)
    wa_ids = await send_read_receipts(db, remote, session.id, chat, body.message_ids)
    return {"chat_id": chat, "message_ids": wa_ids}


async def send_read_receipts(
    db: Database, remote: RemoteCalls, session_id: str, chat: str, refs: list[str]
) -> list[str]:
    """Read receipts for ``refs`` (wagate or WhatsApp ids) in ``chat``, sent by the worker
    that runs the session; the WhatsApp ids they went out with."""
    wa_ids: list[str] = []
    sender: str | None = None
    async with db.read() as tx:
        for ref in refs:
            row = await messages.resolve_reference(tx, session_id, ref)
            if row is not None and row.wa_message_id:
                wa_ids.append(row.wa_message_id)
                sender = sender or row.sender
            else:
                wa_ids.append(ref)
    await remote.call(
        session_id, "read", {"chat": chat, "wa_message_ids": wa_ids, "sender": sender}
    )
    return wa_ids
