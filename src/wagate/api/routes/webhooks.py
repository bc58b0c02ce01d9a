"""Webhook subscriptions of the calling tenant, their deliveries, replays and health."""

from __future__ import annotations

import base64
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from wagate.api.cursors import parse_cursor
from wagate.api.deps import PrincipalDep, ServicesDep
from wagate.api.routes.sessions import load_session
from wagate.api.schemas import WebhookCreate, WebhookOut
from wagate.domain import InvalidRequest, new_id
from wagate.domain.urls import ensure_public_url
from wagate.store.models import Webhook, WebhookDelivery
from wagate.store.repositories import deliveries, tenants, webhooks
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
        "contact.opted_out",
        "contact.opted_in",
        "webhook.disabled",
    }
)
DeliveryStatus = Literal["pending", "failed", "delivered", "dead"]


class WebhookIn(WebhookCreate):
    ordered: bool = Field(
        default=True,
        description="deliver in log order: a failed event holds back the later ones",
    )
    max_in_flight: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="requests in flight at once (default WAGATE_WEBHOOK_MAX_IN_FLIGHT); "
        "1 for strict order",
    )


class WebhookView(WebhookOut):
    ordered: bool
    max_in_flight: int | None
    disabled_reason: str | None = Field(description="gone (410), failing, or manual")
    disabled_at: str | None
    failing_since: str | None = Field(description="first failure since the last success")


class WebhookList(BaseModel):
    items: list[WebhookView]


class EnableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skip_backlog: bool = Field(
        default=False,
        description="start at the end of the event log instead of where delivery stopped",
    )


class DeliveryOut(BaseModel):
    id: str
    webhook_id: str
    event_id: str = Field(description="also the webhook-id header")
    event_cursor: str
    event_type: str
    status: DeliveryStatus
    attempts: int = Field(description="attempts since it was created or last replayed")
    next_attempt_at: str | None
    last_attempt_at: str | None
    last_status: int | None = Field(description="HTTP status of the last answer")
    last_error: str | None
    last_response: str | None = Field(description="the start of the last answer's body")
    last_duration_ms: int | None
    delivered_at: str | None
    created_at: str
    updated_at: str


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class ReplayedOut(BaseModel):
    replayed: int


def webhook_json(hook: Webhook, secret: str | None = None) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": hook.url,
        "events": hook.events,
        "session_id": hook.session_id,
        "enabled": hook.enabled,
        "created_at": iso(hook.created_at),
        "secret": secret,
        "ordered": hook.ordered,
        "max_in_flight": hook.max_in_flight,
        "disabled_reason": hook.disabled_reason,
        "disabled_at": iso(hook.disabled_at),
        "failing_since": iso(hook.failing_since),
    }


def delivery_json(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "webhook_id": row.webhook_id,
        "event_id": row.event_id,
        "event_cursor": str(row.event_seq),
        "event_type": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at),
        "last_attempt_at": iso(row.last_attempt_at),
        "last_status": row.last_status,
        "last_error": row.last_error,
        "last_response": row.last_response,
        "last_duration_ms": row.last_duration_ms,
        "delivered_at": iso(row.delivered_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookView)
async def create_webhook(body: WebhookIn, services: ServicesDep, principal: PrincipalDep) -> Any:
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
    webhook_id = new_id("whk")
    async with services.db.transaction() as tx:
        tenant_id = principal.tenant_id
        if tenant_id is None:
            tenant_id = (await tenants.ensure_tenant(tx, DEFAULT_TENANT, services.clock.now())).id
        hook = await webhooks.create_webhook(
            tx,
            webhook_id=webhook_id,
            tenant_id=tenant_id,
            url=body.url,
            events=body.events,
            secret=services.secret_box.seal(secret, webhook_id),
            session_id=session_id,
            now=services.clock.now(),
            ordered=body.ordered,
            max_in_flight=body.max_in_flight,
        )
    services.webhooks.reconfigure()
    return webhook_json(hook, secret)


@router.get("", response_model=WebhookList)
async def list_webhooks(
    services: ServicesDep, principal: PrincipalDep
) -> dict[str, list[WebhookView]]:
    async with services.db.read() as tx:
        rows = await webhooks.list_webhooks(tx, principal.tenant_id)
    return {"items": [WebhookView.model_validate(webhook_json(h)) for h in rows]}


@router.get("/{webhook_id}", response_model=WebhookView)
async def get_webhook(webhook_id: str, services: ServicesDep, principal: PrincipalDep) -> Any:
    async with services.db.read() as tx:
        return webhook_json(await webhooks.get_webhook(tx, webhook_id, principal.tenant_id))


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
async def delete_webhook(
    webhook_id: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    async with services.db.transaction() as tx:
        await webhooks.delete_webhook(tx, webhook_id, principal.tenant_id)
    services.webhooks.drop(webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/enable", response_model=WebhookView)
async def enable_webhook(
    webhook_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    body: EnableIn | None = None,
) -> Any:
    """Deliver again; by default from where delivery stopped, nothing skipped."""
    skip = body.skip_backlog if body is not None else False
    async with services.db.transaction() as tx:
        hook = await webhooks.get_webhook(tx, webhook_id, principal.tenant_id)
        hook = await webhooks.set_enabled(
            tx, hook, enabled=True, now=services.clock.now(), skip_backlog=skip
        )
    services.webhooks.reconfigure()
    return webhook_json(hook)


@router.post("/{webhook_id}/disable", response_model=WebhookView)
async def disable_webhook(webhook_id: str, services: ServicesDep, principal: PrincipalDep) -> Any:
    """Stop delivering; events keep accumulating and go out when the webhook is enabled."""
    async with services.db.transaction() as tx:
        hook = await webhooks.get_webhook(tx, webhook_id, principal.tenant_id)
        hook = await webhooks.set_enabled(tx, hook, enabled=False, now=services.clock.now())
    services.webhooks.drop(webhook_id)
    return webhook_json(hook)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    webhook_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """Deliveries newest event first, with their attempts and last response."""
    before = parse_cursor(cursor)
    async with services.db.read() as tx:
        await webhooks.get_webhook(tx, webhook_id, principal.tenant_id)
        rows = await deliveries.list_deliveries(
            tx,
            webhook_id,
            status=status,
            before_seq=before,
            limit=limit,
        )
    next_cursor = str(rows[-1].event_seq) if len(rows) == limit else None
    return {"items": [delivery_json(r) for r in rows], "next_cursor": next_cursor}


@router.get("/{webhook_id}/deliveries/{delivery_id}", response_model=DeliveryOut)
async def get_delivery(
    webhook_id: str, delivery_id: str, services: ServicesDep, principal: PrincipalDep
) -> Any:
    async with services.db.read() as tx:
        await webhooks.get_webhook(tx, webhook_id, principal.tenant_id)
        return delivery_json(await deliveries.get_delivery(tx, webhook_id, delivery_id))


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
)
async def replay_delivery(
    webhook_id: str, delivery_id: str, services: ServicesDep, principal: PrincipalDep
) -> Any:
    """Deliver this event again (same ``webhook-id``), with a fresh retry schedule."""
    now = services.clock.now()
    async with services.db.transaction() as tx:
        await webhooks.get_webhook(tx, webhook_id, principal.tenant_id)
        row = await deliveries.get_delivery(tx, webhook_id, delivery_id)
        row = await deliveries.replay(tx, row, now)
        await webhooks.touch(tx, webhook_id, now)
    services.webhooks.reconfigure()
    return delivery_json(row)


@router.post(
    "/{webhook_id}/replay-dead",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplayedOut,
)
async def replay_dead(webhook_id: str, services: ServicesDep, principal: PrincipalDep) -> Any:
    """Deliver every dead-lettered event of this webhook again, in log order."""
    now = services.clock.now()
    async with services.db.transaction() as tx:
        await webhooks.get_webhook(tx, webhook_id, principal.tenant_id)
        count = await deliveries.replay_dead(tx, webhook_id, now)
        if count:
            await webhooks.touch(tx, webhook_id, now)
    services.webhooks.reconfigure()
    return {"replayed": count}
