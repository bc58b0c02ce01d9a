"""The simulator's phone in the browser: scan the QR code, write as a contact, and watch
the replies arrive with typing and read receipts. The demo that needs no phone."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from wagate.api.routes.sessions import load_session_row
from wagate.api.routes.simulator import control
from wagate.domain import PresenceState, normalize_destination
from wagate.store.repositories import messages
from wagate.store.serialize import message_json, session_json
from wagate.web.access import PageUser
from wagate.web.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)

TYPING = {PresenceState.COMPOSING.value, PresenceState.RECORDING.value}


async def _phone(
    request: Request, user: Any, session_id: str, contact: str | None
) -> dict[str, Any]:
    """The phone as the simulated network of the worker that runs the session sees it
    (asked of that worker when it is another one)."""
    services = request.app.state.services
    session = await load_session_row(services.db, session_id, user)
    phone = await control(services, services.remote, session.id, user, "phone")
    contacts = phone.get("contacts", [])
    chosen = next((c for c in contacts if c["phone"] == contact), None)
    if chosen is None and contacts:
        chosen = contacts[0]
    thread: list[dict[str, Any]] = []
    typing = False
    if chosen is not None:
        chat = str(normalize_destination(chosen["phone"]))
        async with services.db.read() as tx:
            rows = list(reversed(await messages.latest_in_chat(tx, session.id, chat, 50)))
        seen = await control(services, services.remote, session.id, user, "activity")
        read = {
            wa_id
            for record in seen["read"]
            if record["chat_id"] == chat
            for wa_id in record["wa_message_ids"]
        }
        for row in rows:
            item = message_json(row)
            item["read_by_gateway"] = row.wa_message_id in read
            thread.append(item)
        shown = [p for p in seen["presence"] if p["chat_id"] == chat]
        typing = bool(shown) and shown[-1]["state"] in TYPING
    return {
        "session": session_json(session),
        "phone": phone,
        "contact": chosen,
        "thread": thread,
        "typing": typing,
    }


@router.get("/simulator/{session_id}", response_class=HTMLResponse)
async def phone_page(
    request: Request, session_id: str, user: PageUser, contact: str | None = None
) -> HTMLResponse:
    context = await _phone(request, user, session_id, contact)
    return render(request, "simulator.html", user, page="sessions", **context)


@router.get("/simulator/{session_id}/thread", response_class=HTMLResponse)
async def phone_thread(
    request: Request, session_id: str, user: PageUser, contact: str | None = None
) -> HTMLResponse:
    context = await _phone(request, user, session_id, contact)
    return render(request, "_simulator_thread.html", user, **context)
