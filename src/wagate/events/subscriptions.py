"""Webhook subscriptions as the API and the environment make and change them.

A subscription's signing secret and its extra headers are sealed with the
installation's secret key before they are stored (headers may carry a receiver's
credentials); the dispatcher opens them when it starts delivering.

``WAGATE_WEBHOOK_URL`` describes one subscription of the default tenant that every
start brings in step with the environment (``sync_from_env``): created when the
variable appears, updated in place when it changes (same id, so nothing is
delivered twice and its deliveries keep their history), deleted when it goes. Its
id is fixed, so workers that start together write one row.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from wagate.domain import Clock, InvalidRequest
from wagate.domain.idgen import new_id
from wagate.domain.urls import ensure_public_url
from wagate.events.dispatcher import WebhookDispatcher
from wagate.events.sealed import open_headers, open_secret, seal_headers
from wagate.store import Database
from wagate.store.crypto import SecretBox
from wagate.store.models import Webhook
from wagate.store.repositories import tenants, webhooks
from wagate.store.repositories.tenants import DEFAULT_TENANT

log = structlog.get_logger("wagate.webhooks")

ENV_WEBHOOK_ID = "whk_env"
ENV = "env"

EVENT_TYPES = frozenset(
    {
        "*",
        "message.received",
        "message.sent",
        "message.status",
        "message.updated",
        "poll.vote",
        "group.participants",
        "group.updated",
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


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_event_types(events: Sequence[str]) -> None:
    unknown = sorted(set(events) - EVENT_TYPES)
    if unknown:
        raise InvalidRequest(
            f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)}",
            code="unknown_event_type",
        )


@dataclass(frozen=True, slots=True)
class EnvWebhook:
    """The subscription ``WAGATE_WEBHOOK_*`` describes (None: no ``WAGATE_WEBHOOK_URL``)."""

    url: str
    events: list[str]
    secret: str | None  # None: generated once, then kept
    headers: dict[str, str]


class Subscriptions:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        box: SecretBox,
        dispatcher: WebhookDispatcher,
        allow_private_urls: bool,
    ) -> None:
        self.db = db
        self.clock = clock
        self.box = box
        self.dispatcher = dispatcher
        self.allow_private_urls = allow_private_urls

    async def create(
        self,
        tenant_id: str | None,
        *,
        url: str,
        events: list[str],
        session_id: str | None,
        headers: Mapping[str, str] | None = None,
        ordered: bool = True,
        max_in_flight: int | None = None,
        secret: str | None = None,
        webhook_id: str | None = None,
        managed_by: str | None = None,
        inline_media_max_bytes: int | None = None,
        body_format: str | None = None,
        format_options: dict[str, Any] | None = None,
    ) -> tuple[Webhook, str]:
        """A new subscription and its signing secret (shown to the caller once)."""
        check_event_types(events)
        if managed_by is None:  # the operator's own webhook may point at a private address
            await ensure_public_url(url, allow_private=self.allow_private_urls)
        secret = secret or new_webhook_secret()
        webhook_id = webhook_id or new_id("whk")
        now = self.clock.now()
        async with self.db.transaction() as tx:
            if tenant_id is None:
                tenant_id = (await tenants.ensure_tenant(tx, DEFAULT_TENANT, now)).id
            hook = await webhooks.create_webhook(
                tx,
                webhook_id=webhook_id,
                tenant_id=tenant_id,
                url=url,
                events=events,
                secret=self.box.seal(secret, webhook_id),
                session_id=session_id,
                now=now,
                ordered=ordered,
                max_in_flight=max_in_flight,
                headers=seal_headers(self.box, webhook_id, headers),
                managed_by=managed_by,
                inline_media_max_bytes=inline_media_max_bytes,
                body_format=body_format,
                format_options=format_options,
            )
        self.dispatcher.reconfigure()
        return hook, secret

    async def update(
        self,
        webhook_id: str,
        tenant_id: str | None,
        changes: Mapping[str, Any],
        *,
        operator: bool = False,
    ) -> Webhook:
        """Change ``url``, ``events``, ``headers`` (all of them: None or {} removes them),
        ``ordered``, ``max_in_flight`` or ``secret``; the delivering worker reloads.
        ``operator``: the change comes from the environment (a private URL is allowed)."""
        values = dict(changes)
        if "events" in values:
            check_event_types(values["events"])
        if "url" in values and not operator:
            await ensure_public_url(values["url"], allow_private=self.allow_private_urls)
        if "headers" in values:
            values["headers"] = seal_headers(self.box, webhook_id, values["headers"])
        if "secret" in values:
            values["secret"] = self.box.seal(values["secret"], webhook_id)
        async with self.db.transaction() as tx:
            hook = await webhooks.get_webhook(tx, webhook_id, tenant_id)
            if values:
                hook = await webhooks.update_webhook(tx, hook, values, self.clock.now())
        self.dispatcher.reconfigure()
        return hook

    async def sync_from_env(self, wanted: EnvWebhook | None) -> str | None:
        """Bring the environment's subscription in step; returns its secret when it was
        generated now (to be shown once), else None."""
        async with self.db.read() as tx:
            current = await webhooks.find_webhook(tx, ENV_WEBHOOK_ID)
        if wanted is None:
            if current is not None:
                async with self.db.transaction() as tx:
                    await webhooks.delete_webhook(tx, ENV_WEBHOOK_ID, None)
                self.dispatcher.drop(ENV_WEBHOOK_ID)
                log.info("the webhook of WAGATE_WEBHOOK_URL is gone from the environment: deleted")
            return None
        if current is None:
            try:
                _, secret = await self.create(
                    None,
                    url=wanted.url,
                    events=wanted.events,
                    session_id=None,
                    headers=wanted.headers,
                    secret=wanted.secret,
                    webhook_id=ENV_WEBHOOK_ID,
                    managed_by=ENV,
                )
            except Exception:
                async with self.db.read() as tx:  # another worker starting made it first
                    if await webhooks.find_webhook(tx, ENV_WEBHOOK_ID) is None:
                        raise
                return None
            log.info("webhook created from WAGATE_WEBHOOK_URL", url=wanted.url)
            return None if wanted.secret else secret
        changes: dict[str, Any] = {}
        if current.url != wanted.url:
            changes["url"] = wanted.url
        if list(current.events) != wanted.events:
            changes["events"] = wanted.events
        if open_headers(self.box, current) != wanted.headers:
            changes["headers"] = wanted.headers
        if wanted.secret is not None and open_secret(self.box, current) != wanted.secret:
            changes["secret"] = wanted.secret
        if changes:
            await self.update(ENV_WEBHOOK_ID, None, changes, operator=True)
            log.info("webhook of WAGATE_WEBHOOK_URL updated", changed=sorted(changes))
        return None
