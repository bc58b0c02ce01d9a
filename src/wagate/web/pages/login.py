"""Log in, log out, and the first admin's setup on a fresh install."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from wagate.api.auth import LOGIN_COOKIE, CsrfGuard
from wagate.api.auth.authenticator import BROWSER
from wagate.api.auth.csrf import FORM_COOKIE
from wagate.api.routes.auth import client_address
from wagate.domain import AuthError, InvalidRequest, SetupDone, TooManyAttempts, WagateError
from wagate.store.repositories import users
from wagate.web.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)


def _safe_next(next_path: str | None) -> str:
    """Only back into the dashboard: never to another site (``//evil.example``)."""
    if next_path and next_path.startswith("/ui/") and not next_path.startswith("//"):
        return next_path
    return "/ui/"


def _form_page(
    request: Request, name: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page with a pre-login form: its double-submit CSRF token goes in a cookie too."""
    token = request.cookies.get(FORM_COOKIE) or CsrfGuard.new_form_token()
    response = render(request, name, None, status_code=status_code, form_token=token, **context)
    response.set_cookie(
        FORM_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui/",
    )
    return response


async def _no_users_yet(request: Request) -> bool:
    async with request.app.state.services.db.read() as tx:
        return await users.count_users(tx) == 0


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> Response:
    if await _no_users_yet(request):
        return RedirectResponse("/ui/setup", status_code=303)
    return _form_page(request, "login.html", next=_safe_next(next))


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    await CsrfGuard.check_form(request)
    try:
        secret = await _open_login(request, email, password)
    except (AuthError, TooManyAttempts) as exc:
        status = 429 if isinstance(exc, TooManyAttempts) else 401
        return _form_page(
            request, "login.html", status_code=status, error=exc.message, email=email, next=next
        )
    return _logged_in(request, secret, _safe_next(next))


async def _open_login(request: Request, email: str, password: str) -> str:
    """Check the password (throttled) and open a browser login; its cookie's secret."""
    _, secret = await request.app.state.services.authenticator.login(
        email,
        password,
        kind=BROWSER,
        address=client_address(request),
        user_agent=request.headers.get("user-agent"),
    )
    return str(secret)


def _logged_in(request: Request, secret: str, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        LOGIN_COOKIE,
        secret,
        max_age=request.app.state.services.settings.login_ttl_s,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(FORM_COOKIE, path="/ui/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    services = request.app.state.services
    cookie = request.cookies.get(LOGIN_COOKIE)
    if cookie:
        try:
            principal = await services.authenticator.from_cookie(cookie)
        except AuthError:
            principal = None
        if principal is not None and principal.login_id is not None:
            await services.csrf.check(request, principal.login_id)
            await services.authenticator.logout(principal.login_id)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.get("/setup", response_class=HTMLResponse)
async def setup_page(request: Request) -> Response:
    if not await _no_users_yet(request):
        return RedirectResponse("/ui/", status_code=303)
    return _form_page(request, "setup.html")


@router.post("/setup", response_class=HTMLResponse)
async def setup(
    request: Request,
    admin_key: Annotated[str, Form(max_length=512)],
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    """Only on a fresh install (no user yet), and only with the admin key: whoever can
    reach the page first must not become its admin."""
    await CsrfGuard.check_form(request)
    services = request.app.state.services
    digest = hashlib.sha256(admin_key.strip().encode()).digest()
    if not hmac.compare_digest(digest, services.admin_key_digest):
        return _form_page(
            request, "setup.html", status_code=401, error="That is not the admin key.", email=email
        )
    try:
        await services.accounts.create_first_admin(email=email, password=password)
    except SetupDone:
        return RedirectResponse("/ui/login", status_code=303)
    except InvalidRequest as exc:
        return _form_page(request, "setup.html", status_code=422, error=exc.message, email=email)
    try:
        secret = await _open_login(request, email, password)
    except WagateError:
        return RedirectResponse("/ui/login", status_code=303)
    return _logged_in(request, secret, "/ui/")
