"""A session's Chatwoot inbox (``/v1/sessions/{id}/chatwoot``), and Chatwoot's webhook for
it (``/v1/ingest/chatwoot/{session_id}?token=``). See docs/chatwoot.md."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from wagate.api.deps import DatabaseDep, PrincipalDep, SettingsDep
from wagate.api.routes.sessions import load_session_row
from wagate.domain import InvalidRequest, StorageError
from wagate.engine.chatwoot import ChatwootLinks, LinkRequest

router = APIRouter(tags=["chatwoot"])


def _links(request: Request) -> ChatwootLinks:
    links: ChatwootLinks | None = request.app.state.services.chatwoot
    if links is None:
        raise StorageError("Chatwoot is not set up in this worker", code="chatwoot_unavailable")
    return links


LinksDep = Annotated[ChatwootLinks, Depends(_links)]


def ingest_base(request: Request, settings: SettingsDep) -> str:
    """Where Chatwoot reaches this server: ``WAGATE_PUBLIC_URL``, else the request's."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


IngestBaseDep = Annotated[str, Depends(ingest_base)]


class ChatwootIn(BaseModel):
    """``PUT /v1/sessions/{id}/chatwoot``: the Chatwoot account and inbox to mirror into."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="Chatwoot's base URL")
    account_id: int = Field(ge=1)
    token: str = Field(
        min_length=1, max_length=512, description="an agent's or admin's access token"
    )
    inbox_name: str | None = Field(
        default=None,
        max_length=255,
        description="found by name, or made (default: the session's name)",
    )
    enabled: bool = True
    sign_messages: bool = Field(default=False, description="the agent's name before each reply")
    reopen_conversation: bool = Field(
        default=True, description="continue a resolved conversation rather than open a new one"
    )
    conversation_pending: bool = Field(default=False, description="new conversations start pending")

    def request(self, default_inbox: str) -> LinkRequest:
        return LinkRequest(
            url=self.url,
            account_id=self.account_id,
            token=self.token,
            inbox_name=self.inbox_name or default_inbox,
            enabled=self.enabled,
            sign_messages=self.sign_messages,
            reopen_conversation=self.reopen_conversation,
            conversation_pending=self.conversation_pending,
        )


@router.put("/v1/sessions/{session_id}/chatwoot")
async def link_chatwoot(
    session_id: str,
    body: ChatwootIn,
    links: LinksDep,
    db: DatabaseDep,
    base: IngestBaseDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Mirror the session's chats into a Chatwoot inbox; agents' replies there are sent on
    WhatsApp. The answer's ``webhook_url`` is set on the inbox (shown only now)."""
    session = await load_session_row(db, session_id, principal)
    return await links.link(session, body.request(session.name), base)


@router.get("/v1/sessions/{session_id}/chatwoot")
async def get_chatwoot(
    session_id: str, links: LinksDep, db: DatabaseDep, principal: PrincipalDep
) -> dict[str, Any]:
    session = await load_session_row(db, session_id, principal)
    return await links.view(session)


@router.delete("/v1/sessions/{session_id}/chatwoot", status_code=204, response_class=Response)
async def unlink_chatwoot(
    session_id: str, links: LinksDep, db: DatabaseDep, principal: PrincipalDep
) -> Response:
    """Stop mirroring (the Chatwoot inbox and its conversations stay in Chatwoot)."""
    session = await load_session_row(db, session_id, principal)
    await links.unlink(session)
    return Response(status_code=204)


@router.post("/v1/ingest/chatwoot/{session_id}", status_code=status.HTTP_200_OK)
async def chatwoot_webhook(
    session_id: str,
    request: Request,
    links: LinksDep,
    token: Annotated[str, Query(min_length=1, max_length=200)] = "",
) -> dict[str, Any]:
    """Chatwoot's webhook for the session's inbox: agents' replies are queued as sends, a
    resolved conversation hands the chat back to the assistant. No key: the token in the
    URL (401 ``invalid_ingest_token``)."""
    try:
        payload = await request.json()
    except ValueError:
        raise InvalidRequest("the body is not JSON", code="invalid_json") from None
    result = await links.webhook(session_id, token, payload if isinstance(payload, dict) else {})
    return {"result": result}
