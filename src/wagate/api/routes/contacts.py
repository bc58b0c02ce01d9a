"""People: the contacts a session has met (from wagate's own records), and who has a
WhatsApp account (asked of WhatsApp, through a connected session)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from wagate.api.deps import DatabaseDep, PrincipalDep, RegistryDep, RemoteDep
from wagate.api.routes.sessions import load_session_row
from wagate.api.schemas import NumberCheckList
from wagate.domain import (
    InvalidDestination,
    InvalidRequest,
    lid_jid,
    normalize_phone,
    phone_jid,
)
from wagate.store.models import Contact
from wagate.store.repositories import contacts
from wagate.store.serialize import iso

router = APIRouter(prefix="/v1/sessions", tags=["contacts"])

MAX_NUMBERS = 100
Number = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    numbers: list[Number] = Field(min_length=1, max_length=MAX_NUMBERS)


@router.post(
    "/{session_id}/contacts/check",
    response_model=NumberCheckList,
    response_model_exclude_unset=True,  # "error" only on the numbers not asked about
)
async def check_contacts(
    session_id: str,
    body: Annotated[
        list[Number] | CheckRequest,
        Body(description='phone numbers: a JSON list, or {"numbers": [...]}; at most 100'),
    ],
    db: DatabaseDep,
    registry: RegistryDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Whether each number has a WhatsApp account, and its JID when it has.

    Numbers are written as people write them (``+55 (11) 98888-7777``); one that
    is not a phone number is answered ``"error": "invalid_phone"`` without asking.
    """
    numbers = body.numbers if isinstance(body, CheckRequest) else body
    if not numbers or len(numbers) > MAX_NUMBERS:
        raise InvalidRequest(f"send between 1 and {MAX_NUMBERS} numbers")
    session = await load_session_row(db, session_id, principal)
    registry.require(session.transport, "number lookups", lambda c: c.check_numbers)
    digits: dict[str, str | None] = {}
    for raw in numbers:
        try:
            digits[raw] = normalize_phone(raw)
        except InvalidDestination:
            digits[raw] = None
    wanted = sorted({d for d in digits.values() if d})
    answers = {}
    if wanted:
        found = await remote.call(session.id, "check_numbers", {"phones": wanted})
        answers = {a["phone"]: a for a in found["items"]}
    items = []
    for raw in numbers:
        phone = digits[raw]
        if phone is None:
            items.append(
                {
                    "input": raw,
                    "phone": None,
                    "on_whatsapp": False,
                    "jid": None,
                    "error": "invalid_phone",
                }
            )
            continue
        answer = answers.get(phone)
        items.append(
            {
                "input": raw,
                "phone": phone,
                "on_whatsapp": bool(answer and answer["on_whatsapp"]),
                "jid": answer["jid"] if answer and answer["on_whatsapp"] else None,
            }
        )
    return {"items": items}


class ContactOut(BaseModel):
    id: str
    jid: str | None = Field(description="the phone JID when the number is known, else the @lid")
    phone: str | None
    lid: str | None
    name: str | None = Field(description="the name the person gave WhatsApp (push name)")
    opted_out: bool
    opted_out_at: str | None
    blocked: bool
    blocked_at: str | None
    last_inbound_at: str | None
    created_at: str | None


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


def contact_json(contact: Contact) -> dict[str, Any]:
    jid = (
        phone_jid(contact.phone)
        if contact.phone
        else (lid_jid(contact.lid) if contact.lid else None)
    )
    return {
        "id": contact.id,
        "jid": jid,
        "phone": contact.phone,
        "lid": contact.lid,
        "name": contact.push_name,
        "opted_out": contact.opted_out_at is not None,
        "opted_out_at": iso(contact.opted_out_at),
        "blocked": contact.blocked_at is not None,
        "blocked_at": iso(contact.blocked_at),
        "last_inbound_at": iso(contact.last_inbound_at),
        "created_at": iso(contact.created_at),
    }


@router.get("/{session_id}/contacts", response_model=ContactPage)
async def list_contacts(
    session_id: str,
    db: DatabaseDep,
    principal: PrincipalDep,
    q: Annotated[str | None, Query(max_length=100, description="part of a name or number")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """Everyone this session has met (wrote to it, was written to, or named in a group),
    with what wagate knows: number, @lid, name, opted out, blocked. ``q`` searches
    names (any case), phone numbers and @lids; pass ``next_cursor`` as ``cursor`` for
    the next page."""
    session = await load_session_row(db, session_id, principal)
    async with db.read() as tx:
        rows = await contacts.search_contacts(
            tx, session.id, query=q.strip() if q else None, limit=limit + 1, after=cursor
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [contact_json(c) for c in rows],
        "next_cursor": rows[-1].id if more and rows else None,
    }
