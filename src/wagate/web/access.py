"""Who is looking at a page: the browser's login cookie, or off to the login page."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from wagate.api.auth import LOGIN_COOKIE
from wagate.api.principal import Principal
from wagate.domain import AuthError


class LoginRequired(Exception):
    """No valid login cookie: the page answers with the login page instead."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def _page_path(request: Request) -> str:
    """Where to come back after logging in: the page, not the fragment it was refreshing
    (htmx names the page in ``HX-Current-URL``)."""
    if request.headers.get("hx-request"):
        current = urlsplit(request.headers.get("hx-current-url", ""))
        return current.path if current.path.startswith("/ui/") else "/ui/"
    return request.url.path


async def page_user(request: Request) -> Principal:
    cookie = request.cookies.get(LOGIN_COOKIE)
    if not cookie:
        raise LoginRequired(_page_path(request))
    try:
        return await request.app.state.services.authenticator.from_cookie(cookie)  # type: ignore[no-any-return]
    except AuthError:
        raise LoginRequired(_page_path(request)) from None


PageUser = Annotated[Principal, Depends(page_user)]


def to_login(request: Request, exc: LoginRequired) -> Response:
    """A full page goes to the login page and comes back after; an htmx fragment asks the
    browser to load the login page (a redirect would put it inside the fragment)."""
    target = "/ui/login"
    if exc.next_path not in ("/ui/", "/ui/login"):
        target += f"?next={quote(exc.next_path)}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
