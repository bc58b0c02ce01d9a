"""Chats as the conversation engine sees them: state, pause and resume, the timeline."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, status

from wagate.api.deps import AcceptorDep, DatabaseDep, OutboxDep, PrincipalDep, ServicesDep
from wagate.api.routes.assistant import engine_of
from wagate.api.routes.sessions import load_session, load_session_row
from wagate.api.schemas import MessageOut
from wagate.api.schemas_engine import ChatList, ChatOut, HumanReply, Timeline
from wagate.domain import MessageType, OutboundMessageRequest

router = APIRouter(prefix="/v1/sessions", tags=["conversations"])


@router.get("/{session_id}/chats", response_model=ChatList)
async def list_chats(
    session_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    state: Literal["bot", "paused", "off"] | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    """The session's chats, most recent first: who answers each, and why not the bot."""
    session = await load_session(services, session_id, principal)
    items = await engine_of(services).list_chats(session, state=state, limit=limit)
    return {"items": items}


@router.get("/{session_id}/chats/{chat_id}", response_model=ChatOut)
async def get_chat(
    session_id: str, chat_id: str, services: ServicesDep, principal: PrincipalDep
) -> Any:
    session = await load_session(services, session_id, principal)
    return await engine_of(services).chat(session, chat_id)


@router.post("/{session_id}/chats/{chat_id}/pause", response_model=ChatOut)
async def pause_chat(
    session_id: str, chat_id: str, services: ServicesDep, principal: PrincipalDep
) -> Any:
    """The bot stops answering this chat until resumed by hand (``conversation.paused``)."""
    session = await load_session(services, session_id, principal)
    return await engine_of(services).pause(session, chat_id)


@router.post("/{session_id}/chats/{chat_id}/resume", response_model=ChatOut)
async def resume_chat(
    session_id: str, chat_id: str, services: ServicesDep, principal: PrincipalDep
) -> Any:
    """The bot answers this chat again (``conversation.resumed``)."""
    session = await load_session(services, session_id, principal)
    return await engine_of(services).resume(session, chat_id)


@router.post(
    "/{session_id}/chats/{chat_id}/reply",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
)
async def human_reply(
    session_id: str,
    chat_id: str,
    body: HumanReply,
    db: DatabaseDep,
    acceptor: AcceptorDep,
    outbox: OutboxDep,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Any:
    """A person answers the chat (the dashboard's reply box): the text is queued like any
    send, and the chat pauses as after a reply typed on the phone, so the assistant does
    not talk over them (``conversation.paused``, reason ``human_reply``; it resumes after
    the assistant's ``resume_after_s``)."""
    engine = engine_of(services)
    session = await load_session_row(db, session_id, principal)
    request = OutboundMessageRequest(to=chat_id, type=MessageType.TEXT, text=body.text)
    accepted = await acceptor.accept(session, request, None)
    outbox.wake(session.id)
    await engine.human_reply(session, chat_id, accepted.json["id"])
    return accepted.json


@router.get(
    "/{session_id}/chats/{chat_id}/timeline",
    response_model=Timeline,
    response_model_exclude_unset=True,  # a message item has no step, a step no message
)
async def chat_timeline(
    session_id: str,
    chat_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    limit: int = Query(200, ge=1, le=1000),
) -> Any:
    """Messages and engine steps (buffered, batched, brain, replied, paused, resumed, errors)
    of one chat, oldest first."""
    session = await load_session(services, session_id, principal)
    return {"items": await engine_of(services).timeline(session, chat_id, limit)}
