"""Webhooks: endpoints, their deliveries with the last answer, and replays."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from wagate.api.routes import webhooks as webhook_routes
from wagate.events.subscriptions import EVENT_TYPES
from wagate.web.access import PageUser
from wagate.web.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/webhooks", response_class=HTMLResponse)
async def webhooks_page(request: Request, user: PageUser) -> HTMLResponse:
    services = request.app.state.services
    listed = await webhook_routes.list_webhooks(services.db, services.subscriptions, user)
    return render(
        request,
        "webhooks.html",
        user,
        page="webhooks",
        hooks=listed["items"],
        event_types=sorted(EVENT_TYPES),
    )


@router.get("/webhooks/{webhook_id}", response_class=HTMLResponse)
async def webhook_page(request: Request, webhook_id: str, user: PageUser) -> HTMLResponse:
    services = request.app.state.services
    hook = await webhook_routes.get_webhook(webhook_id, services.db, services.subscriptions, user)
    return render(request, "webhook.html", user, page="webhooks", hook=hook)


@router.get("/webhooks/{webhook_id}/deliveries", response_class=HTMLResponse)
async def deliveries_table(
    request: Request, webhook_id: str, user: PageUser, status: str | None = None
) -> HTMLResponse:
    services = request.app.state.services
    page = await webhook_routes.list_deliveries(
        webhook_id,
        services.db,
        user,
        status=status if status in ("pending", "failed", "delivered", "dead") else None,  # type: ignore[arg-type]
        limit=100,
        cursor=None,
    )
    return render(request, "_deliveries.html", user, hook_id=webhook_id, deliveries=page["items"])
