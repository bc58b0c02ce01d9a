"""Evolution's per-instance webhook: ``POST /webhook/set/{instance}`` and
``GET /webhook/find/{instance}``.

It is a wagate webhook of the instance's session whose format is ``evolution``: it is
delivered like every webhook (durably, retried across restarts, in order), and each
event is posted in Evolution's shape (:mod:`wagate.events.evolution`). One per instance,
as in Evolution: setting it again changes it in place.
"""

from __future__ import annotations

from typing import Any

from fastapi import status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wagate.api.deps import DatabaseDep, DispatcherDep, SettingsDep, SubscriptionsDep
from wagate.api.evolution.base import CallerDep, evolution_router, load_instance
from wagate.config import Settings
from wagate.domain import InvalidRequest
from wagate.events.dispatcher import WebhookDispatcher
from wagate.events.evolution import EVENT_NAMES, wagate_types
from wagate.events.formatted import EVOLUTION
from wagate.events.subscriptions import Subscriptions
from wagate.store import Database
from wagate.store.models import Session, Webhook
from wagate.store.repositories import webhooks
from wagate.store.serialize import iso

router = evolution_router()

HIDDEN = "<hidden>"  # header values are sealed at rest and never shown again


class WebhookOptions(BaseModel):
    """Evolution's webhook block. ``byEvents``/``base64`` are v2.1's names;
    ``webhookByEvents``/``webhookBase64`` are v2.0's (and what the n8n node sends)."""

    model_config = ConfigDict(extra="allow")

    enabled: bool = True
    url: str = Field(min_length=1, max_length=2048)
    headers: dict[str, str] | None = None
    byEvents: bool | None = None
    base64: bool | None = None
    webhookByEvents: bool | None = None
    webhookBase64: bool | None = None
    events: list[str] = Field(default_factory=list, max_length=len(EVENT_NAMES))

    @model_validator(mode="after")
    def _known(self) -> WebhookOptions:
        unknown = sorted(set(self.events) - set(EVENT_NAMES))
        if unknown:
            raise ValueError(f"unknown events {unknown}; Evolution's events are {EVENT_NAMES}")
        if self.headers and "jwt_key" in self.headers:
            raise ValueError("the jwt_key header is not supported: send a fixed header instead")
        return self

    @property
    def by_events(self) -> bool:
        return bool(self.byEvents if self.byEvents is not None else self.webhookByEvents)

    @property
    def inline_base64(self) -> bool:
        return bool(self.base64 if self.base64 is not None else self.webhookBase64)

    def names(self) -> list[str]:
        """The events it sends: as asked, all of them when enabled with none named (as
        Evolution does), none when disabled."""
        if not self.enabled:
            return []
        return list(dict.fromkeys(self.events)) or list(EVENT_NAMES)


class WebhookSet(BaseModel):
    """``{"webhook": {...}}`` (v2.1), or the block's fields at the top level (v2.0)."""

    model_config = ConfigDict(extra="allow")

    webhook: WebhookOptions

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: Any) -> Any:
        if isinstance(data, dict) and "webhook" not in data and "url" in data:
            return {"webhook": data}
        return data


def check_webhook_url(url: str) -> None:
    """Evolution's own check (an ``http(s)://`` URL); wagate's address rules come after."""
    if not url.startswith(("http://", "https://")):
        raise InvalidRequest('Invalid "url" property', code="invalid_url")


def webhook_view(hook: Webhook) -> dict[str, Any]:
    """The webhook as Evolution answers ``set`` and ``find``."""
    options = hook.format_options or {}
    return {
        "id": hook.id,
        "url": hook.url,
        "headers": dict.fromkeys(options.get("header_names") or [], HIDDEN),
        "enabled": hook.enabled,
        "events": options.get("events") or [],
        "webhookByEvents": bool(options.get("by_events")),
        "webhookBase64": bool(options.get("base64")),
        "createdAt": iso(hook.created_at),
        "updatedAt": iso(hook.updated_at),
        "instanceId": hook.session_id,
    }


async def set_instance_webhook(
    row: Session,
    options: WebhookOptions,
    *,
    db: Database,
    subscriptions: Subscriptions,
    dispatcher: WebhookDispatcher,
    settings: Settings,
) -> Webhook:
    """Create or change the instance's Evolution webhook, and enable or disable it."""
    names = options.names()
    fields: dict[str, Any] = {
        "url": options.url,
        "events": wagate_types(names),
        "headers": options.headers or None,
        "inline_media_max_bytes": settings.media_max_bytes if options.inline_base64 else None,
        "format_options": {
            "events": names,
            "by_events": options.by_events,
            "base64": options.inline_base64,
            "header_names": sorted(options.headers or {}),
        },
    }
    async with db.read() as tx:
        hook = await webhooks.session_webhook(tx, row.id, EVOLUTION)
    if hook is None:
        hook, _ = await subscriptions.create(
            row.tenant_id,
            url=fields["url"],
            events=fields["events"],
            session_id=row.id,
            headers=fields["headers"],
            inline_media_max_bytes=fields["inline_media_max_bytes"],
            body_format=EVOLUTION,
            format_options=fields["format_options"],
        )
    else:
        hook = await subscriptions.update(hook.id, row.tenant_id, fields)
    if hook.enabled != options.enabled:
        async with db.transaction() as tx:
            # as in Evolution, what happened while it was off is not sent when it is on again
            hook = await webhooks.set_enabled(
                tx,
                await webhooks.get_webhook(tx, hook.id, None),
                enabled=options.enabled,
                now=subscriptions.clock.now(),
                skip_backlog=True,
            )
        if options.enabled:
            dispatcher.reconfigure()
        else:
            dispatcher.drop(hook.id)
    return hook


@router.post("/webhook/set/{instance}", status_code=status.HTTP_201_CREATED)
async def set_webhook(
    instance: str,
    body: WebhookSet,
    db: DatabaseDep,
    subscriptions: SubscriptionsDep,
    dispatcher: DispatcherDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> dict[str, Any]:
    """Set the instance's webhook: its URL, events, headers, ``webhookByEvents`` and
    ``webhookBase64``."""
    row = await load_instance(db, instance, caller)
    check_webhook_url(body.webhook.url)
    hook = await set_instance_webhook(
        row,
        body.webhook,
        db=db,
        subscriptions=subscriptions,
        dispatcher=dispatcher,
        settings=settings,
    )
    return webhook_view(hook)


@router.get("/webhook/find/{instance}")
async def find_webhook(instance: str, db: DatabaseDep, caller: CallerDep) -> dict[str, Any] | None:
    """The instance's webhook, or ``null`` when none was set."""
    row = await load_instance(db, instance, caller)
    async with db.read() as tx:
        hook = await webhooks.session_webhook(tx, row.id, EVOLUTION)
    return None if hook is None else webhook_view(hook)
