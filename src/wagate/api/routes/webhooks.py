"""Webhook subscriptions of the calling tenant, their deliveries, replays and health."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from wagate.api.cursors import parse_cursor
from wagate.api.deps import (
    ClockDep,
    DatabaseDep,
    DispatcherDep,
    PrincipalDep,
    SubscriptionsDep,
)
from wagate.api.schemas import WebhookCreate, WebhookHeaders, WebhookOut
from wagate.domain import InvalidRequest
from wagate.events.sealed import open_headers
from wagate.store.crypto import SecretBox
from wagate.store.models import Webhook, WebhookDelivery
from wagate.store.repositories import deliveries, sessions, webhooks
from wagate.store.serialize import iso

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

DeliveryStatus = Literal["pending", "failed", "delivered", "dead"]


INLINE_MEDIA = Field(
    default=None,
    ge=1,
    le=64 * 1024 * 1024,
    description="put media files up to this many bytes in the body too, as `media.base64` "
    "(beside the signed `media.url`); none: links only",
)


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
    inline_media_max_bytes: int | None = INLINE_MEDIA


class WebhookPatch(BaseModel):
    """What a PATCH may change; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[str] | None = Field(default=None, min_length=1)
    headers: WebhookHeaders | None = Field(
        default=None, description="all of its extra headers, replacing the old ones ({}: none)"
    )
    ordered: bool | None = None
    max_in_flight: int | None = Field(default=None, ge=1, le=256)
    inline_media_max_bytes: int | None = INLINE_MEDIA


class WebhookView(WebhookOut):
    ordered: bool
    max_in_flight: int | None
    inline_media_max_bytes: int | None
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


def webhook_json(hook: Webhook, box: SecretBox, secret: str | None = None) -> dict[str, Any]:
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
        "header_names": sorted(open_headers(box, hook)) if hook.headers else [],
        "inline_media_max_bytes": hook.inline_media_max_bytes,
        "managed_by": hook.managed_by,
        "format": hook.format,
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
async def create_webhook(
    body: WebhookIn,
    db: DatabaseDep,
    subscriptions: SubscriptionsDep,
    principal: PrincipalDep,
) -> Any:
    """Subscribe a URL to events. The signing ``secret`` is shown in this answer only."""
    session_id = None
    if body.session_id is not None:
        async with db.read() as tx:
            session_id = (await sessions.get_session(tx, body.session_id, principal.tenant_id)).id
    hook, secret = await subscriptions.create(
        principal.tenant_id,
        url=body.url,
        events=body.events,
        session_id=session_id,
        headers=body.headers,
        ordered=body.ordered,
        max_in_flight=body.max_in_flight,
        inline_media_max_bytes=body.inline_media_max_bytes,
    )
    return webhook_json(hook, subscriptions.box, secret)


@router.get("", response_model=WebhookList)
async def list_webhooks(
    db: DatabaseDep, subscriptions: SubscriptionsDep, principal: PrincipalDep
) -> dict[str, list[WebhookView]]:
    async with db.read() as tx:
        rows = await webhooks.list_webhooks(tx, principal.tenant_id)
    box = subscriptions.box
    return {"items": [WebhookView.model_validate(webhook_json(h, box)) for h in rows]}


@router.get("/{webhook_id}", response_model=WebhookView)
async def get_webhook(
    webhook_id: str, db: DatabaseDep, subscriptions: SubscriptionsDep, principal: PrincipalDep
) -> Any:
    async with db.read() as tx:
        hook = await webhooks.get_webhook(tx, webhook_id, principal.tenant_id)
    return webhook_json(hook, subscriptions.box)


@router.patch("/{webhook_id}", response_model=WebhookView)
async def update_webhook(
    webhook_id: str, body: WebhookPatch, subscriptions: SubscriptionsDep, principal: PrincipalDep
) -> Any:
    """Change the URL, the events, the extra headers or the ordering; the worker that
    delivers to it picks the change up at once (nothing is delivered twice or skipped)."""
    changes = body.model_dump(exclude_unset=True)
    for required in ("url", "events", "ordered"):
        if required in changes and changes[required] is None:
            raise InvalidRequest(f"{required} cannot be null", code="validation_error")
    hook = await subscriptions.update(webhook_id, principal.tenant_id, changes)
    return webhook_json(hook, subscriptions.box)


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
async def delete_webhook(
    webhook_id: str, db: DatabaseDep, dispatcher: DispatcherDep, principal: PrincipalDep
) -> Response:
    async with db.transaction() as tx:
        await webhooks.delete_webhook(tx, webhook_id, principal.tenant_id)
    dispatcher.drop(webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/enable", response_model=WebhookView)
async def enable_webhook(
    webhook_id: str,
    db: DatabaseDep,
    clock: ClockDep,
    dispatcher: DispatcherDep,
    subscriptions: SubscriptionsDep,
    principal: PrincipalDep,
    body: EnableIn | None = None,
) -> Any:
    """Deliver again; by default from where delivery stopped, nothing skipped."""
    skip = body.skip_backlog if body is not None else False
    async with db.transaction() as tx:
        hook = await webhooks.get_webhook(tx, webhook_id, principal.tenant_id)
        hook = await webhooks.set_enabled(
            tx, hook, enabled=True, now=clock.now(), skip_backlog=skip
        )
    dispatcher.reconfigure()
    return webhook_json(hook, subscriptions.box)


@router.post("/{webhook_id}/disable", response_model=WebhookView)
async def disable_webhook(
    webhook_id: str,
    db: DatabaseDep,
    clock: ClockDep,
    dispatcher: DispatcherDep,
    subscriptions: SubscriptionsDep,
    principal: PrincipalDep,
) -> Any:
    """Stop delivering; events keep accumulating and go out when the webhook is enabled."""
    async with db.transaction() as tx:
        hook = await webhooks.get_webhook(tx, webhook_id, principal.tenant_id)
        hook = await webhooks.set_enabled(tx, hook, enabled=False, now=clock.now())
    dispatcher.drop(webhook_id)
    return webhook_json(hook, subscriptions.box)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    webhook_id: str,
    db: DatabaseDep,
    principal: PrincipalDep,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """Deliveries newest event first, with their attempts and last response."""
    before = parse_cursor(cursor)
    async with db.read() as tx:
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
    webhook_id: str,
    delivery_id: str,
    db: DatabaseDep,
    principal: PrincipalDep,
) -> Any:
    async with db.read() as tx:
        await webhooks.get_webhook(tx, webhook_id, principal.tenant_id)
        return delivery_json(await deliveries.get_delivery(tx, webhook_id, delivery_id))


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
)
async def replay_delivery(
    webhook_id: str,
    delivery_id: str,
    db: DatabaseDep,
    clock: ClockDep,
    dispatcher: DispatcherDep,
    principal: PrincipalDep,
) -> Any:
    """Deliver this event again (same ``webhook-id``), with a fresh retry schedule."""
    now = clock.now()
    async with db.transaction() as tx:
        await webhooks.get_webhook(tx, webhook_id, principal.tenant_id)
        row = await deliveries.get_delivery(tx, webhook_id, delivery_id)
        row = await deliveries.replay(tx, row, now)
        await webhooks.touch(tx, webhook_id, now)
    dispatcher.reconfigure()
    return delivery_json(row)


@router.post(
    "/{webhook_id}/replay-dead",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplayedOut,
)
async def replay_dead(
    webhook_id: str,
    db: DatabaseDep,
    clock: ClockDep,
    dispatcher: DispatcherDep,
    principal: PrincipalDep,
) -> Any:
    """Deliver every dead-lettered event of this webhook again, in log order."""
    now = clock.now()
    async with db.transaction() as tx:
        await webhooks.get_webhook(tx, webhook_id, principal.tenant_id)
        count = await deliveries.replay_dead(tx, webhook_id, now)
        if count:
            await webhooks.touch(tx, webhook_id, now)
    dispatcher.reconfigure()
    return {"replayed": count}
