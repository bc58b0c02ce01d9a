"""Request dependencies: the services, and who is calling."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from wagate.api.auth import LOGIN_COOKIE, Authenticator, CsrfGuard, looks_like_token
from wagate.api.auth.csrf import SAFE_METHODS
from wagate.api.keycache import KeyCache
from wagate.api.principal import ADMIN, Principal
from wagate.config import Settings
from wagate.domain import AuthError, Clock, Forbidden
from wagate.events import WebhookDispatcher
from wagate.events.subscriptions import Subscriptions
from wagate.outbox import OutboundAcceptor, Outbox
from wagate.sessions.remote import RemoteCalls
from wagate.store import Database
from wagate.store.media import MediaStore
from wagate.store.media_links import MediaLinks
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


def _service(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency that hands a route one service of the application, by name: routes
    ask for what they use (``DatabaseDep``, ``RemoteDep``, ...), not the whole bag. The
    type a route sees is the one its ``Annotated`` alias names."""

    async def one_service(request: Request) -> Any:
        return getattr(request.app.state.services, name)

    one_service.__name__ = f"get_{name}"
    return one_service


DatabaseDep = Annotated[Database, Depends(_service("db"))]
RegistryDep = Annotated[TransportRegistry, Depends(_service("registry"))]
RemoteDep = Annotated[RemoteCalls, Depends(_service("remote"))]
ClockDep = Annotated[Clock, Depends(_service("clock"))]
SettingsDep = Annotated[Settings, Depends(_service("settings"))]
AcceptorDep = Annotated[OutboundAcceptor, Depends(_service("acceptor"))]
OutboxDep = Annotated[Outbox, Depends(_service("outbox"))]
AuthenticatorDep = Annotated[Authenticator, Depends(_service("authenticator"))]
CsrfDep = Annotated[CsrfGuard, Depends(_service("csrf"))]
SubscriptionsDep = Annotated[Subscriptions, Depends(_service("subscriptions"))]
DispatcherDep = Annotated[WebhookDispatcher, Depends(_service("webhooks"))]
MediaDep = Annotated[MediaStore, Depends(_service("media"))]
MediaLinksDep = Annotated[MediaLinks, Depends(_service("media_links"))]
KeyCacheDep = Annotated[KeyCache[Principal], Depends(_service("key_cache"))]

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
    return await principal_for(services, credential)


async def principal_for(
    services: Services, credential: str, *, instance_tokens: bool = False
) -> Principal:
    """Who holds ``credential``: the admin key, a user's access token, or a tenant's key.
    An Evolution instance's token counts only where ``instance_tokens`` (``/evolution``)."""
    if hmac.compare_digest(hashlib.sha256(credential.encode()).digest(), services.admin_key_digest):
        return ADMIN
    if looks_like_token(credential):
        return await services.authenticator.from_access_token(credential)
    principal = await _tenant_key(services, credential)
    if principal.session_id is not None and not instance_tokens:
        raise AuthError("an Evolution instance token works only under /evolution")
    return principal


async def _tenant_key(services: Services, credential: str) -> Principal:
    cached = services.key_cache.get(credential, services.clock.now())
    if cached is not None:
        return cached
    async with services.db.read() as tx:
        key = await tenants.find_active_key(tx, credential)
    if key is None:
        raise AuthError("the API key is not valid")
    principal = Principal(tenant_id=key.tenant_id, key_id=key.id, session_id=key.session_id)
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
