"""Webhook subscriptions of the calling tenant."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from fastapi import APIRouter, Response, status

from wagate.api.deps import PrincipalDep, ServicesDep
from wagate.api.routes.sessions import load_session
from wagate.api.schemas import WebhookCreate, WebhookOut
from wagate.domain import InvalidRequest
from wagate.domain.urls import ensure_public_url
from wagate.store.models import Webhook
from wagate.store.repositories import tenants, webhooks
from wagate.store.repositories.tenants import DEFAULT_TENANT
from wagate.store.serialize import iso

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

EVENT_TYPES = frozenset(
    {
        "*",
        "message.received",
        "message.sent",
        "message.status",
        "message.updated",
        "session.status",
        "session.qr",
        "session.pairing_code",
        "session.created",
        "session.deleted",
        "presence",
        "call",
        "alert",
        "conversation.paused",
        "conversation.resumed",
        "webhook.disabled",
    }
)


def webhook_json(hook: Webhook, secret: str | None = None) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": hook.url,
        "events": hook.events,
        "session_id": hook.session_id,
        "enabled": hook.enabled,
        "created_at": iso(hook.created_at),
        "secret": secret,
    }


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookOut)
async def create_webhook(
    body: WebhookCreate, services: ServicesDep, principal: PrincipalDep
) -> Any:
    """Subscribe a URL to events. The signing ``secret`` is shown in this answer only."""
    unknown = sorted(set(body.events) - EVENT_TYPES)
    if unknown:
        raise InvalidRequest(
            f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)}",
            code="unknown_event_type",
        )
    await ensure_public_url(body.url, allow_private=services.settings.allow_private_urls)
    session_id = None
    if body.session_id is not None:
        session_id = (await load_session(services, body.session_id, principal)).id
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    async with services.db.transaction() as tx:
        tenant_id = principal.tenant_id
        if tenant_id is None:
            tenant_id = (await tenants.ensure_tenant(tx, DEFAULT_TENANT, services.clock.now())).id
        hook = await webhooks.create_webhook(
            tx,
            tenant_id=tenant_id,
            url=body.url,
            events=body.events,
            secret=secret,
            session_id=session_id,
            now=services.clock.now(),
        )
    return webhook_json(hook, secret)


@router.get("")
async def list_webhooks(
    services: ServicesDep, principal: PrincipalDep
) -> dict[str, list[WebhookOut]]:
    async with services.db.read() as tx:
        rows = await webhooks.list_webhooks(tx, principal.tenant_id)
    return {"items": [WebhookOut.model_validate(webhook_json(h)) for h in rows]}


@router.get("/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: str, services: ServicesDep, principal: PrincipalDep) -> Any:
    async with services.db.read() as tx:
        return webhook_json(await webhooks.get_webhook(tx, webhook_id, principal.tenant_id))


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
async def delete_webhook(
    webhook_id: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    async with services.db.transaction() as tx:
        await webhooks.delete_webhook(tx, webhook_id, principal.tenant_id)
    return Response(status_code=204)
