"""The inbox: a session's chats, one chat's timeline, the reply box, pause and resume."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from wagate.api.routes.sessions import load_session
from wagate.domain import normalize_destination
from wagate.engine import timeline
from wagate.engine.state import conversation_json
from wagate.store.repositories import conversations, messages, sessions
from wagate.store.serialize import message_json, session_json
from wagate.web.access import PageUser
from wagate.web.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_sessions(request: Request, user: PageUser) -> HTMLResponse:
    """Which number's inbox to open."""
    async with request.app.state.services.db.read() as tx:
        rows = await sessions.list_sessions(tx, user.tenant_id)
    return render(
        request, "inbox_sessions.html", user, page="inbox", sessions=[session_json(r) for r in rows]
    )


async def _chats(request: Request, user: Any, session_id: str) -> dict[str, Any]:
    services = request.app.state.services
    session = await load_session(services, session_id, user)
    async with services.db.read() as tx:
        last = await messages.latest_per_chat(tx, session.id, limit=200)
        states = await conversations.conversations_of(tx, session.id, [m.chat_id for m in last])
    chats = [
        {
            "chat_id": m.chat_id,
            "last": message_json(m),
            "conversation": conversation_json(states[m.chat_id]) if m.chat_id in states else None,
        }
        for m in last
    ]
    return {"session": session_json(session), "chats": chats}


@router.get("/sessions/{session_id}/inbox", response_class=HTMLResponse)
async def inbox(request: Request, session_id: str, user: PageUser) -> HTMLResponse:
    context = await _chats(request, user, session_id)
    return render(request, "inbox.html", user, page="inbox", **context)


@router.get("/sessions/{session_id}/inbox/list", response_class=HTMLResponse)
async def inbox_list(request: Request, session_id: str, user: PageUser) -> HTMLResponse:
    context = await _chats(request, user, session_id)
    return render(request, "_inbox_list.html", user, **context)


async def _chat(request: Request, user: Any, session_id: str, chat_id: str) -> dict[str, Any]:
    services = request.app.state.services
    session = await load_session(services, session_id, user)
    chat = normalize_destination(chat_id)
    async with services.db.read() as tx:
        items = await timeline.timeline(tx, session.id, chat, 200)
        conversation = await conversations.get_conversation(tx, session.id, chat)
    return {
        "session": session_json(session),
        "chat_id": chat,
        "conversation": conversation_json(conversation) if conversation else None,
        "items": items,
        "engine_enabled": services.engine is not None,
    }


@router.get("/sessions/{session_id}/chats/{chat_id}", response_class=HTMLResponse)
async def chat_page(
    request: Request, session_id: str, chat_id: str, user: PageUser
) -> HTMLResponse:
    context = await _chat(request, user, session_id, chat_id)
    return render(request, "chat.html", user, page="inbox", **context)


@router.get("/sessions/{session_id}/chats/{chat_id}/timeline", response_class=HTMLResponse)
async def chat_timeline(
    request: Request, session_id: str, chat_id: str, user: PageUser
) -> HTMLResponse:
    context = await _chat(request, user, session_id, chat_id)
    return render(request, "_chat_timeline.html", user, **context)
