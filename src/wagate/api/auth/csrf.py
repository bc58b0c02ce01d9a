"""CSRF protection for requests a browser authenticates by cookie.

A change (any method but GET, HEAD, OPTIONS) made with the login cookie must
carry the page's token, in the ``X-CSRF-Token`` header (htmx sends it on every
request) or a ``csrf_token`` form field. The token is an HMAC of the login's id,
so it needs no storage and dies with the login. Requests whose ``Origin`` names
another site, or that the browser marks ``Sec-Fetch-Site: cross-site``, are
refused before the token is even looked at.

The login and setup forms come before any login: they use a double-submit
token instead (a random value in a cookie and in the form, which another site
can neither read nor set).

Bearer-authenticated API calls need none of this: a browser never adds an
``Authorization`` header on its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from starlette.requests import Request

from wagate.domain import CsrfFailed

LOGIN_COOKIE = "wagate_login"
FORM_COOKIE = "wagate_csrf"
HEADER = "x-csrf-token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfGuard:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def token_for(self, login_id: str) -> str:
        digest = hmac.new(self._key, login_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    async def check(self, request: Request, login_id: str) -> None:
        """Refuse a cookie-authenticated change without this login's token."""
        if request.method in SAFE_METHODS:
            return
        check_origin(request)
        sent = await sent_token(request)
        if not sent or not hmac.compare_digest(sent, self.token_for(login_id)):
            raise CsrfFailed("the request lacks this page's CSRF token; reload the page")

    @staticmethod
    def new_form_token() -> str:
        return secrets.token_urlsafe(24)

    @staticmethod
    async def check_form(request: Request) -> None:
        """The double-submit check of the forms shown before a login exists."""
        check_origin(request)
        cookie = request.cookies.get(FORM_COOKIE, "")
        sent = await sent_token(request)
        if not cookie or not sent or not hmac.compare_digest(cookie, sent):
            raise CsrfFailed("the form has expired or came from another site; reload the page")


def check_origin(request: Request) -> None:
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise CsrfFailed("a change requested by another site")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return
    expected = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    if origin.rstrip("/") != expected:
        raise CsrfFailed(f"a change requested from another origin ({origin})")


async def sent_token(request: Request) -> str:
    header = request.headers.get(HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(FIELD)
        return value if isinstance(value, str) else ""
    return ""
