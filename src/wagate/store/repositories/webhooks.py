"""Webhook subscriptions (delivery lives in the events layer)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import NotFound, new_id
from wagate.store.models import Webhook


async def create_webhook(
    db: AsyncSession,
    *,
    tenant_id: str,
    url: str,
    events: list[str],
    secret: str,
    session_id: str | None,
    now: datetime,
) -> Webhook:
    hook = Webhook(
        id=new_id("whk"),
        tenant_id=tenant_id,
        session_id=session_id,
        url=url,
        events=events,
        secret=secret,
        enabled=True,
        created_at=now,
    )
    db.add(hook)
    await db.flush()
    return hook


async def list_webhooks(db: AsyncSession, tenant_id: str | None) -> list[Webhook]:
    query = select(Webhook).order_by(Webhook.created_at, Webhook.id)
    if tenant_id is not None:
        query = query.where(Webhook.tenant_id == tenant_id)
    return list(await db.scalars(query))


async def get_webhook(db: AsyncSession, webhook_id: str, tenant_id: str | None) -> Webhook:
    hook = await db.get(Webhook, webhook_id)
    if hook is None or (tenant_id is not None and hook.tenant_id != tenant_id):
        raise NotFound(f"webhook {webhook_id!r} not found")
    return hook


async def delete_webhook(db: AsyncSession, webhook_id: str, tenant_id: str | None) -> None:
    await db.delete(await get_webhook(db, webhook_id, tenant_id))
