"""Webhook deliveries: one row per (endpoint, event), with the attempts made so far."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import NotFound
from wagate.store.models import Event, Webhook, WebhookDelivery

OPEN = ("pending", "failed")


async def matching_events(
    db: AsyncSession, hook: Webhook, *, after: int, upto: int, limit: int
) -> list[Event]:
    """Events of the webhook's tenant (and session, and types) with after < seq <= upto."""
    query = (
        select(Event)
        .where(Event.tenant_id == hook.tenant_id, Event.seq > after, Event.seq <= upto)
        .order_by(Event.seq)
        .limit(limit)
    )
    if hook.session_id is not None:
        query = query.where(Event.session_id == hook.session_id)
    if "*" not in hook.events:
        query = query.where(Event.type.in_(hook.events))
    return list(await db.scalars(query))


async def open_deliveries(
    db: AsyncSession, webhook_id: str, *, after_seq: int, limit: int
) -> list[tuple[WebhookDelivery, Event]]:
    """Deliveries still to make, oldest event first, with their events."""
    rows = await db.execute(
        select(WebhookDelivery, Event)
        .join(Event, Event.seq == WebhookDelivery.event_seq)
        .where(
            WebhookDelivery.webhook_id == webhook_id,
            WebhookDelivery.status.in_(OPEN),
            WebhookDelivery.event_seq > after_seq,
        )
        .order_by(WebhookDelivery.event_seq)
        .limit(limit)
    )
    return [(delivery, event) for delivery, event in rows]


async def list_deliveries(
    db: AsyncSession,
    webhook_id: str,
    *,
    status: str | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> list[WebhookDelivery]:
    """Newest event first; ``before_seq`` pages back."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.event_seq.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before_seq is not None:
        query = query.where(WebhookDelivery.event_seq < before_seq)
    return list(await db.scalars(query))


async def get_delivery(db: AsyncSession, webhook_id: str, delivery_id: str) -> WebhookDelivery:
    row = await db.get(WebhookDelivery, delivery_id)
    if row is None or row.webhook_id != webhook_id:
        raise NotFound(f"delivery {delivery_id!r} not found")
    return row


def _fresh_round(now: datetime) -> dict[str, Any]:
    return {
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "delivered_at": None,
        "updated_at": now,
    }


async def replay(db: AsyncSession, delivery: WebhookDelivery, now: datetime) -> WebhookDelivery:
    """Deliver again, with a fresh schedule (the last response stays until the next attempt)."""
    await db.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery.id)
        .values(**_fresh_round(now))
        .execution_options(synchronize_session=False)
    )
    await db.refresh(delivery)
    return delivery


async def replay_dead(db: AsyncSession, webhook_id: str, now: datetime) -> int:
    result = await db.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == "dead")
        .values(**_fresh_round(now))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_delivered(db: AsyncSession, before: datetime, limit: int = 5000) -> int:
    """Delete delivered rows whose delivery is older than ``before`` (a bounded batch)."""
    doomed = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == "delivered", WebhookDelivery.delivered_at < before)
        .limit(limit)
    )
    result = await db.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.id.in_(doomed.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
