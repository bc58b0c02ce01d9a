"""Access tokens for users (OAuth2 password flow), refresh, logout, and who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from wagate.api.auth import LOGIN_COOKIE
from wagate.api.auth.authenticator import API, TokenPair
from wagate.api.deps import AuthenticatorDep, CallerDep
from wagate.api.schemas_auth import MeOut, RefreshRequest, TokenOut
from wagate.domain import InvalidRequest

router = APIRouter(prefix="/v1/auth", tags=["auth"])


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _token_json(pair: TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "token_type": "bearer",
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
    }


@router.post("/token", response_model=TokenOut)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    auth: AuthenticatorDep,
) -> Any:
    """Log in with e-mail (``username``) and password; the access token works wherever an
    API key does, within the user's role. Failed attempts are slowed down per account and
    per address (429 ``too_many_attempts`` with ``Retry-After``)."""
    principal, refresh_token = await auth.login(
        form.username,
        form.password,
        kind=API,
        address=client_address(request),
        user_agent=request.headers.get("user-agent"),
    )
    return _token_json(auth.tokens(principal, refresh_token))


@router.post("/refresh", response_model=TokenOut)
async def refresh(body: RefreshRequest, auth: AuthenticatorDep) -> Any:
    """A new access token and refresh token for a refresh token, which stops working."""
    return _token_json(await auth.refresh(body.refresh_token))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def logout(caller: CallerDep, auth: AuthenticatorDep) -> Response:
    """End the login the token (or the browser's cookie) belongs to: its access tokens,
    refresh token and live streams stop working."""
    if caller.login_id is None:
        raise InvalidRequest("an API key has no login to end; revoke the key instead")
    await auth.logout(caller.login_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.get("/me", response_model=MeOut)
async def me(caller: CallerDep) -> Any:
    if caller.user_id is not None:
        kind = "user"
    else:
        kind = "admin_key" if caller.is_admin else "tenant_key"
    return {
        "kind": kind,
        "role": caller.role,
        "tenant_id": caller.tenant_id,
        "user_id": caller.user_id,
        "email": caller.email,
    }
