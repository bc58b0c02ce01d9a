"""Browser logins at the HTTP level: the cookie, CSRF on every change, where login leads."""

from __future__ import annotations

import re

import httpx

from tests.support.server import RunningServer
from tests.support.users import PASSWORD, make_user


def _form_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the form carries its CSRF token"
    return found.group(1)


async def _browser_login(
    client: httpx.AsyncClient, email: str, next_path: str = "/ui/", **headers: str
) -> httpx.Response:
    page = await client.get("/ui/login")
    assert page.status_code == 200
    return await client.post(
        "/ui/login",
        data={
            "email": email,
            "password": PASSWORD,
            "csrf_token": _form_token(page.text),
            "next": next_path,
        },
        headers=headers,
    )


async def test_the_login_cookie_needs_the_pages_csrf_token_for_every_change(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    await make_user(admin, "ops@acme.test", "operator", tenant="acme")
    async with server.client(None) as browser:
        answer = await _browser_login(browser, "ops@acme.test")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/"
        cookie = answer.headers["set-cookie"].lower()
        assert "wagate_login=" in cookie
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "path=/" in cookie
        assert "secure" not in cookie  # plain HTTP here; behind HTTPS it is Secure

        page = await browser.get("/ui/")
        assert page.status_code == 200
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert token
        csrf = token.group(1)

        assert (await browser.get("/v1/sessions")).status_code == 200  # reads need no token
        refused = await browser.post("/v1/sessions", json={"name": "a"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf_failed"
        wrong = await browser.post(
            "/v1/sessions", json={"name": "a"}, headers={"x-csrf-token": "not-it"}
        )
        assert wrong.json()["error"]["code"] == "csrf_failed"
        foreign = await browser.post(
            "/v1/sessions",
            json={"name": "a"},
            headers={"x-csrf-token": csrf, "origin": "https://evil.example"},
        )
        assert foreign.json()["error"]["code"] == "csrf_failed"
        cross = await browser.post(
            "/v1/sessions",
            json={"name": "a"},
            headers={"x-csrf-token": csrf, "sec-fetch-site": "cross-site"},
        )
        assert cross.json()["error"]["code"] == "csrf_failed"
        made = await browser.post(
            "/v1/sessions",
            json={"name": "a"},
            headers={"x-csrf-token": csrf, "origin": server.base_url},
        )
        assert made.status_code == 201, made.text

        # the live stream opens with the cookie alone: a browser's EventSource sends no header
        async with browser.stream("GET", "/v1/events/stream") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")

        out = await browser.post("/ui/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert (await browser.get("/v1/sessions")).status_code == 401
        assert (await browser.get("/ui/")).headers["location"] == "/ui/login"


async def test_login_forms_refuse_forged_posts_and_foreign_redirects(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    await make_user(admin, "ops@acme.test", "operator", tenant="acme")
    async with server.client(None) as browser:
        forged = await browser.post(
            "/ui/login", data={"email": "ops@acme.test", "password": PASSWORD}
        )
        assert forged.status_code == 403  # no form token
        away = await _browser_login(browser, "ops@acme.test", next_path="//evil.example/x")
        assert away.headers["location"] == "/ui/"
    async with server.client(None) as browser:
        back = await _browser_login(browser, "ops@acme.test", next_path="/ui/webhooks")
        assert back.headers["location"] == "/ui/webhooks"
    async with server.client(None) as browser:
        https = await _browser_login(browser, "ops@acme.test", **{"x-forwarded-proto": "https"})
        assert "secure" in https.headers["set-cookie"].lower()
    async with server.client(None) as browser:
        page = await browser.get("/ui/login")
        wrong = await browser.post(
            "/ui/login",
            data={
                "email": "ops@acme.test",
                "password": "wrong password!",
                "csrf_token": _form_token(page.text),
            },
        )
        assert wrong.status_code == 401
        assert "wrong e-mail or password" in wrong.text
        assert "wagate_login" not in wrong.headers.get("set-cookie", "")


async def test_pages_and_fragments_send_a_stranger_to_the_login_page(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    await make_user(admin, "ops@acme.test", "operator", tenant="acme")
    async with server.client(None) as stranger:
        page = await stranger.get("/ui/webhooks")
        assert page.status_code == 303
        assert page.headers["location"] == "/ui/login?next=/ui/webhooks"
        fragment = await stranger.get(
            "/ui/sessions/table",
            headers={"hx-request": "true", "hx-current-url": f"{server.base_url}/ui/webhooks"},
        )
        assert fragment.headers["hx-redirect"] == "/ui/login?next=/ui/webhooks"  # the page
        assert (await stranger.get("/ui")).headers["location"] == "/ui/"
        login = await stranger.get("/ui/login")
        assert login.status_code == 200
        assert "Log in to wagate" in login.text
        assert (await stranger.get("/ui/setup")).headers["location"] == "/ui/"  # users exist
        asset = await stranger.get("/ui/static/vendor/htmx-2.0.11.min.js")
        assert asset.status_code == 200  # shipped in the package: no CDN
