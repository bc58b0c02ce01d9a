"""Courtesies in a chat: show typing or recording, and mark messages read."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from wagate.api.deps import PrincipalDep, ServicesDep
from wagate.api.routes.sessions import load_session
from wagate.api.schemas import PresenceOut, ReadOut
from wagate.domain import Conflict, Jid, PresenceState, normalize_destination
from wagate.sessions import SessionRuntime
from wagate.store.models import Session
from wagate.store.repositories import messages
from wagate.transports import Transport

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


async def _connected_transport(
    services: Any, session_id: str, principal: Any, chat_id: str, what: str, capability: str
) -> tuple[Session, SessionRuntime, Transport, Jid]:
    """The caller's session, its runtime and transport, and the chat: 404 for another
    tenant's session,
    422 if the transport cannot do ``what`` or the chat is not valid, 409 if offline."""
    session = await load_session(services, session_id, principal)
    capabilities = services.registry.capabilities(session.transport)
    capabilities.require(what, getattr(capabilities, capability))
    chat = normalize_destination(chat_id)
    runtime: SessionRuntime | None = services.manager.runtime(session.id)
    if runtime is None or not runtime.connected or runtime.transport is None:
        raise Conflict("the session is not connected", code="session_not_connected")
    return session, runtime, runtime.transport, chat


@router.post(
    "/{session_id}/presence", status_code=status.HTTP_202_ACCEPTED, response_model=PresenceOut
)
async def send_presence(
    session_id: str, body: PresenceRequest, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Show typing (``composing``), recording or paused to the people in a chat."""
    _, runtime, transport, chat = await _connected_transport(
        services, session_id, principal, body.chat_id, "presence", "presence"
    )
    async with runtime.monitor.track("presence"):
        await transport.send_presence(chat, PresenceState(body.state))
    return {"chat_id": chat, "state": body.state}


@router.post("/{session_id}/read", status_code=status.HTTP_202_ACCEPTED, response_model=ReadOut)
async def mark_read(
    session_id: str, body: ReadRequest, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Send read receipts (blue ticks) for inbound messages of a chat."""
    session, runtime, transport, chat = await _connected_transport(
        services, session_id, principal, body.chat_id, "read receipts", "read_receipts"
    )
    wa_ids: list[str] = []
    sender: str | None = None
    async with services.db.read() as tx:
        for ref in body.message_ids:
            row = await messages.resolve_reference(tx, session.id, ref)
            if row is not None and row.wa_message_id:
                wa_ids.append(row.wa_message_id)
                sender = sender or row.sender
            else:
                wa_ids.append(ref)
    async with runtime.monitor.track("read_receipts"):
        await transport.mark_read(chat, wa_ids, sender)
    return {"chat_id": chat, "message_ids": wa_ids}
