"""Request dependencies: the services, and who is calling."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from wagate.domain import AuthError, Forbidden
from wagate.outbox import OutboundAcceptor, Outbox
from wagate.store import Database
from wagate.store.repositories import tenants

if TYPE_CHECKING:
    from wagate.app import Services


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the admin (sees every tenant) or one tenant."""

    tenant_id: str | None
    key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.tenant_id is None


async def get_services(request: Request) -> Services:
    """Async on purpose: FastAPI runs plain ``def`` dependencies in a thread pool."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated["Services", Depends(get_services)]


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.services.db
    return db


async def get_acceptor(request: Request) -> OutboundAcceptor:
    acceptor: OutboundAcceptor = request.app.state.services.acceptor
    return acceptor


async def get_outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.services.outbox
    return outbox


DatabaseDep = Annotated[Database, Depends(get_db)]
AcceptorDep = Annotated[OutboundAcceptor, Depends(get_acceptor)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]


async def get_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("send the API key as 'Authorization: Bearer <key>'")
    token = token.strip()
    services: Services = request.app.state.services
    if hmac.compare_digest(hashlib.sha256(token.encode()).digest(), services.admin_key_digest):
        return Principal(tenant_id=None)
    cached = services.key_cache.get(token, services.clock.now())
    if cached is not None:
        return cached
    async with services.db.read() as tx:
        key = await tenants.find_active_key(tx, token)
    if key is None:
        raise AuthError("the API key is not valid")
    principal = Principal(tenant_id=key.tenant_id, key_id=key.id)
    services.key_cache.put(token, principal, services.clock.now())
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this route needs the admin key")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]
