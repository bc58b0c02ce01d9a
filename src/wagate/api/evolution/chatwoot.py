"""Evolution's Chatwoot routes: ``POST /chatwoot/set/{instance}`` and
``GET /chatwoot/find/{instance}``, on wagate's Chatwoot links (docs/chatwoot.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from wagate.api.deps import DatabaseDep
from wagate.api.evolution.base import CallerDep, evolution_router, load_instance
from wagate.api.routes.chatwoot import IngestBaseDep, LinksDep
from wagate.domain import InvalidRequest
from wagate.engine.chatwoot import LinkRequest
from wagate.store.repositories import chatwoot

router = evolution_router()


class ChatwootSet(BaseModel):
    """Evolution's ChatwootDto; the import options (contacts, messages) and
    ``mergeBrazilContacts`` are accepted and not used."""

    model_config = ConfigDict(extra="allow")

    enabled: bool = True
    accountId: str | int | None = None
    token: str | None = Field(default=None, max_length=512)
    url: str | None = Field(default=None, max_length=2048)
    nameInbox: str | None = Field(default=None, max_length=255)
    signMsg: bool = False
    reopenConversation: bool = True
    conversationPending: bool = False


def _view(link: dict[str, Any], token: str | None) -> dict[str, Any]:
    return {
        "enabled": link["enabled"],
        "accountId": str(link["account_id"]),
        "token": token,
        "url": link["url"],
        "nameInbox": link["inbox_name"],
        "signMsg": link["sign_messages"],
        "reopenConversation": link["reopen_conversation"],
        "conversationPending": link["conversation_pending"],
        "webhook_url": link.get("webhook_url"),
    }


@router.post("/chatwoot/set/{instance}", status_code=201)
async def set_chatwoot(
    instance: str,
    body: ChatwootSet,
    links: LinksDep,
    base: IngestBaseDep,
    caller: CallerDep,
    db: DatabaseDep,
) -> dict[str, Any]:
    """Link the instance to a Chatwoot inbox (or, with ``enabled: false``, stop)."""
    row = await load_instance(db, instance, caller)
    if not body.enabled:
        stopped = await links.disable(row)
        return {"enabled": False} if stopped is None else _view(stopped, None)
    if not (body.url and body.token and body.accountId):
        raise InvalidRequest("url, token and accountId are required to enable Chatwoot")
    try:
        account_id = int(body.accountId)
    except ValueError:
        raise InvalidRequest("accountId must be a number") from None
    request = LinkRequest(
        url=body.url,
        account_id=account_id,
        token=body.token,
        inbox_name=body.nameInbox or row.name,
        sign_messages=body.signMsg,
        reopen_conversation=body.reopenConversation,
        conversation_pending=body.conversationPending,
    )
    return _view(await links.link(row, request, base), body.token)


@router.get("/chatwoot/find/{instance}")
async def find_chatwoot(
    instance: str, links: LinksDep, caller: CallerDep, db: DatabaseDep
) -> dict[str, Any] | None:
    row = await load_instance(db, instance, caller)
    async with db.read() as tx:
        link = await chatwoot.find_link(tx, row.id)
    if link is None:
        return None
    return _view(await links.view(row), links.token_of(row.id, link.token))
