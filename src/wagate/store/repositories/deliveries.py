"""Webhook deliveries: one row per (endpoint, event), with the attempts made so far."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, update
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


OUTCOME_FIELDS = (
    "status",
    "attempts",
    "next_attempt_at",
    "last_attempt_at",
    "last_status",
    "last_error",
    "last_response",
    "last_duration_ms",
    "delivered_at",
    "updated_at",
)


async def record_outcomes(db: AsyncSession, outcomes: list[tuple[str, dict[str, Any]]]) -> None:
    """Attempts' results, ``(delivery id, OUTCOME_FIELDS' values)``, in one executemany."""
    if not outcomes:
        return
    table: Table = WebhookDelivery.__table__  # type: ignore[assignment]  # Core: one executemany
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in OUTCOME_FIELDS})
    )
    params = [
        {"b_id": delivery_id, **{f"b_{k}": values[k] for k in OUTCOME_FIELDS}}
        for delivery_id, values in outcomes
    ]
    await db.execute(statement, params)


async def fan_out(
    db: AsyncSession,
    *,
    webhook_id: str,
    owner: str,
    old_cursor: int,
    new_cursor: int,
    rows: list[dict[str, Any]],
) -> bool:
    """Move the endpoint's cursor and insert its new deliveries, only while ``owner``
    holds its lease and the cursor is where it read from; whether it did."""
    moved = await db.execute(
        update(Webhook)
        .where(
            Webhook.id == webhook_id,
            Webhook.cursor_seq == old_cursor,
            Webhook.lease_owner == owner,
            Webhook.enabled.is_(True),
        )
        .values(cursor_seq=new_cursor)
        .execution_options(synchronize_session=False)
    )
    if not getattr(moved, "rowcount", 0):
        return False
    if rows:
        await db.execute(insert(WebhookDelivery), rows)
    return True


async def change_endpoint(
    db: AsyncSession, webhook_id: str, values: dict[str, Any], *, only_if_enabled: bool
) -> bool:
    """Change the endpoint's delivery state (failing since, disabled); whether it did."""
    statement = update(Webhook).where(Webhook.id == webhook_id)
    if only_if_enabled:
        statement = statement.where(Webhook.enabled.is_(True))
    changed = await db.execute(
        statement.values(**values).execution_options(synchronize_session=False)
    )
    return bool(getattr(changed, "rowcount", 0))
