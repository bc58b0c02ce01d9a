"""Questions about people that only WhatsApp can answer: who has an account. It needs a
connected session whose transport can ask."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from wagate.api.deps import DatabaseDep, PrincipalDep, RegistryDep, RemoteDep
from wagate.api.routes.sessions import load_session_row
from wagate.api.schemas import NumberCheckList
from wagate.domain import (
    InvalidDestination,
    InvalidRequest,
    normalize_phone,
)

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
