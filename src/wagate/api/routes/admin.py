"""Tenants and API keys (admin key only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from wagate.api.deps import AdminDep, ServicesDep
from wagate.api.schemas import (
    KeyCreate,
    KeyList,
    KeyOut,
    TenantCreate,
    TenantList,
    TenantOut,
    TenantUpdate,
)
from wagate.store.models import ApiKey, Tenant
from wagate.store.repositories import tenants
from wagate.store.serialize import iso

router = APIRouter(prefix="/v1/admin", tags=["admin"])


def tenant_json(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "max_sessions": tenant.max_sessions,
        "created_at": iso(tenant.created_at),
    }


def key_json(key: ApiKey, plaintext: str | None = None) -> dict[str, Any]:
    return {
        "id": key.id,
        "tenant_id": key.tenant_id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": iso(key.created_at),
        "last_used_at": iso(key.last_used_at),
        "revoked_at": iso(key.revoked_at),
        "key": plaintext,
    }


@router.post("/tenants", status_code=status.HTTP_201_CREATED, response_model=TenantOut)
async def create_tenant(body: TenantCreate, services: ServicesDep, _: AdminDep) -> Any:
    async with services.db.transaction() as tx:
        tenant = await tenants.create_tenant(
            tx, body.name, services.clock.now(), max_sessions=body.max_sessions
        )
    return tenant_json(tenant)


@router.get("/tenants", response_model=TenantList)
async def list_tenants(services: ServicesDep, _: AdminDep) -> dict[str, list[TenantOut]]:
    async with services.db.read() as tx:
        rows = await tenants.list_tenants(tx)
    return {"items": [TenantOut.model_validate(tenant_json(t)) for t in rows]}


@router.get("/tenants/{tenant_id}", response_model=TenantOut)
async def get_tenant(tenant_id: str, services: ServicesDep, _: AdminDep) -> Any:
    async with services.db.read() as tx:
        return tenant_json(await tenants.get_tenant(tx, tenant_id))


@router.patch("/tenants/{tenant_id}", response_model=TenantOut)
async def update_tenant(
    tenant_id: str, body: TenantUpdate, services: ServicesDep, _: AdminDep
) -> Any:
    """Set a tenant's session quota (existing sessions stay; new ones are refused with 403
    ``session_quota_exceeded`` while the tenant is at it)."""
    async with services.db.transaction() as tx:
        tenant = await tenants.get_tenant(tx, tenant_id)
        if "max_sessions" in body.model_fields_set:
            tenant.max_sessions = body.max_sessions
    return tenant_json(tenant)


@router.delete("/tenants/{tenant_id}", status_code=204, response_class=Response)
async def delete_tenant(tenant_id: str, services: ServicesDep, _: AdminDep) -> Response:
    """Delete a tenant with its keys, sessions (logged out first), messages and webhooks."""
    async with services.db.read() as tx:
        tenant = await tenants.get_tenant(tx, tenant_id)
        from wagate.store.repositories import sessions

        owned = await sessions.list_sessions(tx, tenant.id)
    for session in owned:
        await services.remote.delete(session.id)
    async with services.db.transaction() as tx:
        await tenants.delete_tenant(tx, tenant.id)
    services.key_cache.clear()
    services.authenticator.forget([])  # its users went with it: no cached login stays
    services.streams.end_tenant(tenant.id)
    return Response(status_code=204)


@router.post(
    "/tenants/{tenant_id}/keys", status_code=status.HTTP_201_CREATED, response_model=KeyOut
)
async def create_key(tenant_id: str, body: KeyCreate, services: ServicesDep, _: AdminDep) -> Any:
    """Create an API key for the tenant. The key is in this answer only; store it now."""
    async with services.db.transaction() as tx:
        tenant = await tenants.get_tenant(tx, tenant_id)
        key, plaintext = await tenants.create_api_key(
            tx, tenant.id, body.name, services.clock.now()
        )
    return key_json(key, plaintext)


@router.get("/tenants/{tenant_id}/keys", response_model=KeyList)
async def list_keys(tenant_id: str, services: ServicesDep, _: AdminDep) -> dict[str, list[KeyOut]]:
    async with services.db.read() as tx:
        tenant = await tenants.get_tenant(tx, tenant_id)
        rows = await tenants.list_api_keys(tx, tenant.id)
    return {"items": [KeyOut.model_validate(key_json(k)) for k in rows]}


@router.delete("/keys/{key_id}", response_model=KeyOut)
async def revoke_key(key_id: str, services: ServicesDep, _: AdminDep) -> Any:
    """Revoke a key. It stops working at once on this worker (its live streams end too),
    and within the key cache's 5 s on other workers (their streams end at the next
    keep-alive)."""
    async with services.db.transaction() as tx:
        key = await tenants.revoke_api_key(tx, key_id, services.clock.now())
    services.key_cache.clear()
    services.streams.end_key(key.id)
    return key_json(key)
