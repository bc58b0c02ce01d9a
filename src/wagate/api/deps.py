"""Request dependencies: the services, and who is calling."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from wagate.api.auth import LOGIN_COOKIE, Authenticator, CsrfGuard, looks_like_token
from wagate.api.auth.csrf import SAFE_METHODS
from wagate.api.principal import ADMIN, Principal
from wagate.config import Settings
from wagate.domain import AuthError, Clock, Forbidden
from wagate.outbox import OutboundAcceptor, Outbox
from wagate.sessions.remote import RemoteCalls
from wagate.store import Database
from wagate.store.repositories import tenants
from wagate.transports import TransportRegistry

if TYPE_CHECKING:
    from wagate.app import Services

__all__ = ["Principal"]


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


async def get_authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.services.authenticator
    return authenticator


async def get_csrf(request: Request) -> CsrfGuard:
    csrf: CsrfGuard = request.app.state.services.csrf
    return csrf


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.services.clock
    return clock


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.services.settings
    return settings


async def get_registry(request: Request) -> TransportRegistry:
    registry: TransportRegistry = request.app.state.services.registry
    return registry


async def get_remote(request: Request) -> RemoteCalls:
    remote: RemoteCalls = request.app.state.services.remote
    return remote


DatabaseDep = Annotated[Database, Depends(get_db)]
RegistryDep = Annotated[TransportRegistry, Depends(get_registry)]
RemoteDep = Annotated[RemoteCalls, Depends(get_remote)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AcceptorDep = Annotated[OutboundAcceptor, Depends(get_acceptor)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]
AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]
CsrfDep = Annotated[CsrfGuard, Depends(get_csrf)]

# Both only read the Authorization header; declared so that /docs offers its Authorize
# button for a user's login (OAuth2 password flow) and for an API key.
_oauth2 = OAuth2PasswordBearer(
    tokenUrl="/v1/auth/token", auto_error=False, description="a user's e-mail and password"
)
_api_key = HTTPBearer(auto_error=False, description="an API key (the admin key or a tenant's)")


async def get_caller(
    request: Request,
    _token: Annotated[str | None, Depends(_oauth2)],
    _key: Annotated[HTTPAuthorizationCredentials | None, Depends(_api_key)],
) -> Principal:
    """Who is calling, whatever they may do: an API key or a user's access token in
    ``Authorization: Bearer``, or a browser's login cookie (then a change needs the
    page's CSRF token)."""
    services: Services = request.app.state.services
    header = request.headers.get("authorization")
    if header is None:
        cookie = request.cookies.get(LOGIN_COOKIE)
        if cookie:
            principal = await services.authenticator.from_cookie(cookie)
            assert principal.login_id is not None
            await services.csrf.check(request, principal.login_id)
            return principal
        raise AuthError(
            "send an API key or an access token as 'Authorization: Bearer <key>', "
            "or log in to the dashboard"
        )
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise AuthError("send the API key as 'Authorization: Bearer <key>'")
    if hmac.compare_digest(hashlib.sha256(credential.encode()).digest(), services.admin_key_digest):
        return ADMIN
    if looks_like_token(credential):
        return await services.authenticator.from_access_token(credential)
    return await _tenant_key(services, credential)


async def _tenant_key(services: Services, credential: str) -> Principal:
    cached = services.key_cache.get(credential, services.clock.now())
    if cached is not None:
        return cached
    async with services.db.read() as tx:
        key = await tenants.find_active_key(tx, credential)
    if key is None:
        raise AuthError("the API key is not valid")
    principal = Principal(tenant_id=key.tenant_id, key_id=key.id)
    services.key_cache.put(credential, principal, services.clock.now())
    return principal


CallerDep = Annotated[Principal, Depends(get_caller)]


async def get_principal(request: Request, caller: CallerDep) -> Principal:
    """The caller, held to their role: a viewer reads and changes nothing. Every route of
    the API takes this (or :data:`AdminDep`), so the rule holds on all of them."""
    if request.method not in SAFE_METHODS and not caller.can_write:
        raise Forbidden("a viewer may read but not change anything")
    return caller


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this route needs the admin key or an admin user")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]
