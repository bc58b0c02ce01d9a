"""Webhook subscriptions and the state their delivery keeps on them (cursor, lease, health)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import NotFound, new_id
from wagate.store.models import Event, Webhook


async def log_end(db: AsyncSession) -> int:
    """The highest event seq committed so far (0 for an empty log)."""
    return int(await db.scalar(select(func.max(Event.seq))) or 0)


async def create_webhook(
    db: AsyncSession,
    *,
    tenant_id: str,
    url: str,
    events: list[str],
    secret: str,
    session_id: str | None,
    now: datetime,
    webhook_id: str | None = None,
    ordered: bool = True,
    max_in_flight: int | None = None,
    headers: str | None = None,
    managed_by: str | None = None,
    inline_media_max_bytes: int | None = None,
    body_format: str | None = None,
    format_options: dict[str, Any] | None = None,
) -> Webhook:
    """A new subscription; it receives the events appended after it was created.

    ``secret`` and ``headers`` are stored as given: the caller seals them first.
    """
    hook = Webhook(
        id=webhook_id or new_id("whk"),
        tenant_id=tenant_id,
        session_id=session_id,
        url=url,
        events=events,
        secret=secret,
        enabled=True,
        created_at=now,
        ordered=ordered,
        max_in_flight=max_in_flight,
        headers=headers,
        managed_by=managed_by,
        inline_media_max_bytes=inline_media_max_bytes,
        format=body_format,
        format_options=format_options,
        cursor_seq=await log_end(db),
        version=0,
        updated_at=now,
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


async def set_enabled(
    db: AsyncSession, hook: Webhook, *, enabled: bool, now: datetime, skip_backlog: bool = False
) -> Webhook:
    """Enable (delivery resumes where it stopped, or at the log's end) or disable by hand."""
    values: dict[str, Any] = {
        "enabled": enabled,
        "version": Webhook.version + 1,
        "updated_at": now,
    }
    if enabled:
        values.update(disabled_reason=None, disabled_at=None, failing_since=None)
        if skip_backlog:
            values["cursor_seq"] = await log_end(db)
    elif hook.enabled:
        values.update(disabled_reason="manual", disabled_at=now, lease_owner=None)
    await db.execute(
        update(Webhook)
        .where(Webhook.id == hook.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    await db.refresh(hook)
    return hook


async def update_webhook(
    db: AsyncSession, hook: Webhook, changes: dict[str, Any], now: datetime
) -> Webhook:
    """Change the subscription's own fields (url, events, headers, ordering, secret); the
    worker that delivers to it reloads it."""
    await db.execute(
        update(Webhook)
        .where(Webhook.id == hook.id)
        .values(**changes, version=Webhook.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await db.refresh(hook)
    return hook


async def session_webhook(db: AsyncSession, session_id: str, body_format: str) -> Webhook | None:
    """The one webhook of a session in ``body_format`` (Evolution's: one per instance)."""
    query = (
        select(Webhook)
        .where(Webhook.session_id == session_id, Webhook.format == body_format)
        .order_by(Webhook.created_at)
        .limit(1)
    )
    return (await db.scalars(query)).first()


async def find_webhook(db: AsyncSession, webhook_id: str) -> Webhook | None:
    return await db.get(Webhook, webhook_id)


async def touch(db: AsyncSession, webhook_id: str, now: datetime) -> None:
    """Tell the worker that delivers to this endpoint to reload it (deliveries changed)."""
    await db.execute(
        update(Webhook)
        .where(Webhook.id == webhook_id)
        .values(version=Webhook.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def claim(db: AsyncSession, *, owner: str, now: datetime, ttl_s: float) -> None:
    """Take every enabled endpoint nobody holds, and renew ours when a third of the TTL is left.

    One statement: on PostgreSQL, a row two workers race for is taken by the
    first; the second re-reads the row after the first commits and leaves it.
    """
    renew_before = now + timedelta(seconds=ttl_s / 3)
    await db.execute(
        update(Webhook)
        .where(
            Webhook.enabled.is_(True),
            or_(
                Webhook.lease_owner.is_(None),
                Webhook.lease_expires_at < now,
                (Webhook.lease_owner == owner) & (Webhook.lease_expires_at < renew_before),
            ),
        )
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=ttl_s))
        .execution_options(synchronize_session=False)
    )


async def held_by(db: AsyncSession, owner: str) -> list[Webhook]:
    return list(
        await db.scalars(
            select(Webhook)
            .where(Webhook.lease_owner == owner, Webhook.enabled.is_(True))
            .order_by(Webhook.id)
        )
    )


async def release(db: AsyncSession, owner: str) -> None:
    await db.execute(
        update(Webhook)
        .where(Webhook.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
