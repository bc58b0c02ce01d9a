"""Tenants and their API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import Conflict, NotFound, QuotaExceeded, new_id
from wagate.store.models import ApiKey, Session, Tenant

DEFAULT_TENANT = "default"
KEY_PREFIX = "wgk_"


def hash_key(key: str) -> str:
    """Keys are 256-bit random strings, so a plain SHA-256 is the right hash (no stretching)."""
    return hashlib.sha256(key.encode()).hexdigest()


async def create_tenant(
    db: AsyncSession, name: str, now: datetime, *, max_sessions: int | None = None
) -> Tenant:
    if await get_tenant_by_name(db, name) is not None:
        raise Conflict(f"tenant {name!r} already exists", code="tenant_exists")
    tenant = Tenant(id=new_id("ten"), name=name, max_sessions=max_sessions, created_at=now)
    db.add(tenant)
    await db.flush()
    return tenant


async def ensure_tenant(db: AsyncSession, name: str, now: datetime) -> Tenant:
    return await get_tenant_by_name(db, name) or await create_tenant(db, name, now)


async def get_tenant_by_name(db: AsyncSession, name: str) -> Tenant | None:
    result = await db.scalars(select(Tenant).where(Tenant.name == name))
    return result.first()


async def get_tenant(db: AsyncSession, tenant_id: str) -> Tenant:
    tenant = await db.get(Tenant, tenant_id)
    if tenant is None:
        tenant = await get_tenant_by_name(db, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id!r} not found")
    return tenant


async def check_session_quota(db: AsyncSession, tenant_id: str, default_limit: int | None) -> None:
    """Refuse a new session when the tenant has as many as its quota allows (its own, or
    ``default_limit``). The tenant row stays locked until the transaction ends (on
    PostgreSQL; SQLite has one writer), so two creations cannot both take the last place."""
    query = select(Tenant).where(Tenant.id == tenant_id)
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    tenant = (await db.scalars(query)).first()
    if tenant is None:
        raise NotFound(f"tenant {tenant_id!r} not found")
    limit = tenant.max_sessions if tenant.max_sessions is not None else default_limit
    if limit is None:
        return
    count = await db.scalar(select(func.count()).where(Session.tenant_id == tenant_id))
    if int(count or 0) >= limit:
        raise QuotaExceeded(f"this tenant may have {limit} sessions; it has {count}")


async def list_tenants(db: AsyncSession) -> list[Tenant]:
    return list(await db.scalars(select(Tenant).order_by(Tenant.created_at, Tenant.id)))


async def delete_tenant(db: AsyncSession, tenant_id: str) -> None:
    tenant = await get_tenant(db, tenant_id)
    await db.delete(tenant)


async def create_api_key(
    db: AsyncSession, tenant_id: str, name: str, now: datetime
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned here once and never stored."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    return await _add_key(
        db, tenant_id=tenant_id, name=name, plaintext=plaintext, now=now
    ), plaintext


async def create_instance_token(
    db: AsyncSession,
    *,
    tenant_id: str,
    session_id: str,
    token: str,
    sealed: str,
    name: str,
    now: datetime,
) -> ApiKey:
    """An Evolution instance's token: a key for one session, ``sealed`` (the caller
    seals it) to be shown again. A token already in use is a conflict."""
    if await db.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(token))):
        raise Conflict("this token is already in use", code="token_in_use")
    return await _add_key(
        db,
        tenant_id=tenant_id,
        name=name,
        plaintext=token,
        now=now,
        session_id=session_id,
        sealed=sealed,
    )


async def _add_key(
    db: AsyncSession,
    *,
    tenant_id: str,
    name: str,
    plaintext: str,
    now: datetime,
    session_id: str | None = None,
    sealed: str | None = None,
) -> ApiKey:
    key = ApiKey(
        id=new_id("key"),
        tenant_id=tenant_id,
        name=name,
        prefix=plaintext[:12],
        key_hash=hash_key(plaintext),
        created_at=now,
        session_id=session_id,
        sealed_key=sealed,
    )
    db.add(key)
    await db.flush()
    return key


async def instance_tokens(db: AsyncSession, session_ids: list[str]) -> dict[str, ApiKey]:
    """The active instance token of each session that has one."""
    rows = await db.scalars(
        select(ApiKey).where(ApiKey.session_id.in_(session_ids), ApiKey.revoked_at.is_(None))
    )
    return {key.session_id: key for key in rows if key.session_id is not None}


async def find_active_key(db: AsyncSession, plaintext: str) -> ApiKey | None:
    result = await db.scalars(
        select(ApiKey).where(ApiKey.key_hash == hash_key(plaintext), ApiKey.revoked_at.is_(None))
    )
    return result.first()


async def key_is_active(db: AsyncSession, key_id: str) -> bool:
    """Whether the key exists and is not revoked (its tenant deleted takes its keys)."""
    found = await db.scalar(
        select(ApiKey.id).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    )
    return found is not None


async def list_api_keys(db: AsyncSession, tenant_id: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    return list(await db.scalars(query))


async def revoke_api_key(db: AsyncSession, key_id: str, now: datetime) -> ApiKey:
    key = await db.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id!r} not found")
    if key.revoked_at is None:
        key.revoked_at = now
    return key


async def touch_api_key(db: AsyncSession, key_id: str, now: datetime) -> None:
    await db.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
