"""Sessions: create, list, get, start, stop, log out, delete, QR and pairing code."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from wagate.api.deps import DatabaseDep, PrincipalDep, RegistryDep, RemoteDep, ServicesDep
from wagate.api.schemas import (
    PairingOut,
    PairingRequest,
    QrOut,
    SessionCreate,
    SessionList,
    SessionOut,
    SessionUpdate,
)
from wagate.domain import Forbidden, NotRunning, NotWaitingForScan, SessionStatus
from wagate.domain.policy import validate_overrides
from wagate.domain.qr import qr_data_url
from wagate.domain.urls import check_url_syntax, ensure_public_url
from wagate.sessions import UNCHANGED, Unchanged
from wagate.store import Database
from wagate.store.models import Session
from wagate.store.repositories import sessions, tenants
from wagate.store.repositories.tenants import DEFAULT_TENANT
from wagate.store.serialize import iso, session_json
from wagate.store.session_rows import session_row

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


async def _check_proxy(services: Any, transport: str, url: str) -> None:
    """An ``http://`` or ``socks5://`` proxy with a host, on a transport that uses one, at a
    public address unless ``WAGATE_ALLOW_PRIVATE_URLS`` (a tenant's proxy is probed by the
    session's health: it must not point inside the network)."""
    capabilities = services.registry.capabilities(transport)
    capabilities.require("a proxy", capabilities.proxy)
    as_http = url.replace("socks5://", "http://", 1).replace("socks5h://", "http://", 1)
    check_url_syntax(as_http)
    await ensure_public_url(as_http, allow_private=services.settings.allow_private_urls)


def _check_tenant_rules(
    principal: Any, services: Any, body: SessionCreate | SessionUpdate, transport: str | None
) -> None:
    """What only the admin key may do: set a priority (it decides which sessions run when
    the fleet is full) and, when ``WAGATE_TENANT_SIMULATOR`` is off, use the simulator."""
    if principal.is_admin:
        return
    if "priority" in body.model_fields_set:
        raise Forbidden("only the admin key may set a session's priority")
    if transport == "simulator" and not services.settings.tenant_simulator:
        raise Forbidden("the simulator is not available to tenant keys on this server")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def load_session(services: Any, key: str, principal: Any) -> Session:
    async with services.db.read() as tx:
        return await sessions.get_session(tx, key, principal.tenant_id)


async def load_session_row(db: Database, key: str, principal: Any) -> Session:
    """For the hot routes (send, bulk, simulated inbound): the row from the short-lived
    cache of :mod:`wagate.store.session_rows`, read from the database on a miss."""
    return await session_row(db, key, principal.tenant_id)


async def _json(services: Any, request: Request, session_id: str) -> dict[str, Any]:
    async with services.db.read() as tx:
        row = await sessions.get_session(tx, session_id, None)
    return session_json(row, ingest_base=_base(request))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SessionOut)
async def create_session(
    body: SessionCreate, request: Request, services: ServicesDep, principal: PrincipalDep
) -> Any:
    """Create a session and, unless ``start`` is false, start connecting (QR or saved login)."""
    _check_tenant_rules(principal, services, body, body.transport)
    tenant_id = principal.tenant_id
    async with services.db.transaction() as tx:
        if body.tenant is not None:
            if not principal.is_admin:
                raise Forbidden("only the admin key may choose the tenant")
            tenant_id = (await tenants.get_tenant(tx, body.tenant)).id
        elif tenant_id is None:
            tenant_id = (await tenants.ensure_tenant(tx, DEFAULT_TENANT, services.clock.now())).id
    config = services.validate_transport_config(body.transport, body.config)
    overrides, _ = validate_overrides(services.policy_defaults, body.settings)
    if body.proxy_url is not None:
        await _check_proxy(services, body.transport, body.proxy_url)
    row = await services.manager.create(
        tenant_id=tenant_id,
        name=body.name,
        transport=body.transport,
        config=config,
        proxy_url=body.proxy_url,
        priority=body.priority,
        start=body.start,
        settings=overrides,
        default_quota=services.settings.tenant_max_sessions,
    )
    return await _json(services, request, row.id)


@router.get("", response_model=SessionList)
async def list_sessions(request: Request, services: ServicesDep, principal: PrincipalDep) -> Any:
    async with services.db.read() as tx:
        rows = await sessions.list_sessions(tx, principal.tenant_id)
    return {"items": [session_json(r, ingest_base=_base(request)) for r in rows]}


@router.get("/{session_id}", response_model=SessionOut)
async def get_session(
    session_id: str, request: Request, services: ServicesDep, principal: PrincipalDep
) -> Any:
    row = await load_session(services, session_id, principal)
    return session_json(row, ingest_base=_base(request))


@router.patch("/{session_id}", response_model=SessionOut)
async def update_session(
    session_id: str,
    body: SessionUpdate,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Any:
    """Change a session's transport config (merged key by key, so rotating one secret such
    as a Cloud API token needs only that key), its proxy or its priority. A running
    session reconnects with the new config, keeping its login."""
    row = await load_session(services, session_id, principal)
    _check_tenant_rules(principal, services, body, None)  # the transport does not change
    config = None
    if body.config is not None:
        current = services.manager.session_config(row)
        merged = services.registry.merge_config(row.transport, current, body.config)
        config = services.validate_transport_config(row.transport, merged)
    proxy: str | Unchanged | None = UNCHANGED
    if "proxy_url" in body.model_fields_set:
        proxy = body.proxy_url
        if proxy is not None:
            await _check_proxy(services, row.transport, proxy)
    await services.manager.update(row.id, config=config, proxy_url=proxy, priority=body.priority)
    return await _json(services, request, row.id)


@router.delete("/{session_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_session(
    session_id: str, services: ServicesDep, remote: RemoteDep, principal: PrincipalDep
) -> Response:
    """Log out (on the worker that runs the session, so WhatsApp unlinks it now), wipe
    credentials and media, and delete the session and its messages."""
    row = await load_session(services, session_id, principal)
    await remote.delete(row.id)
    services.key_cache.clear()  # an Evolution instance token went with it
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{session_id}/start", status_code=status.HTTP_202_ACCEPTED, response_model=SessionOut)
async def start_session(
    session_id: str, request: Request, services: ServicesDep, principal: PrincipalDep
) -> Any:
    row = await load_session(services, session_id, principal)
    await services.manager.start(row.id)
    return await _json(services, request, row.id)


@router.post("/{session_id}/stop", status_code=status.HTTP_202_ACCEPTED, response_model=SessionOut)
async def stop_session(
    session_id: str, request: Request, services: ServicesDep, principal: PrincipalDep
) -> Any:
    row = await load_session(services, session_id, principal)
    await services.manager.stop(row.id)
    return await _json(services, request, row.id)


@router.post(
    "/{session_id}/logout", status_code=status.HTTP_202_ACCEPTED, response_model=SessionOut
)
async def logout_session(
    session_id: str,
    request: Request,
    services: ServicesDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> Any:
    """Unlink the device on the worker that runs the session (any worker answers)."""
    row = await load_session(services, session_id, principal)
    await remote.logout(row.id)
    return await _json(services, request, row.id)


@router.get("/{session_id}/qr", response_model=QrOut)
async def get_qr(session_id: str, services: ServicesDep, principal: PrincipalDep) -> Any:
    """The QR code to scan now; 409 when the session is not waiting for a scan."""
    row = await load_session(services, session_id, principal)
    capabilities = services.registry.capabilities(row.transport)
    capabilities.require("QR login", capabilities.qr)
    now = services.clock.now()
    if (
        row.status != SessionStatus.QR
        or row.qr is None
        or row.qr_expires_at is None
        or row.qr_expires_at <= now
    ):
        raise NotWaitingForScan(f"the session is {row.status}, not waiting for a QR scan")
    return {"qr": row.qr, "image": qr_data_url(row.qr), "expires_at": iso(row.qr_expires_at)}


@router.post("/{session_id}/pairing-code", response_model=PairingOut)
async def pairing_code(
    session_id: str,
    body: PairingRequest,
    db: DatabaseDep,
    registry: RegistryDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> Any:
    """A code to type on the phone (Linked devices > Link with phone number). Any worker
    answers: the one that runs the session asks WhatsApp for it."""
    row = await load_session_row(db, session_id, principal)
    registry.require(row.transport, "pairing codes", lambda c: c.pairing_code)
    answer = await remote.call(
        row.id, "pairing_code", {"phone": body.phone}, when_nobody_runs=NotRunning
    )
    return {"code": answer["code"]}
