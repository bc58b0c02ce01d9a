"""Every route of the API, asked by each kind of caller: the role rules hold on all of them.

The routes come from the running server's OpenAPI document, so a route added
later is covered without touching this test.
"""

from __future__ import annotations

import re

import httpx

from tests.support.server import ADMIN_KEY, RunningServer
from tests.support.users import make_user, token_client

PUBLIC = {
    ("GET", "/health"),
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/auth/refresh"),
}
ADMIN_ONLY = re.compile(r"^(/v1/admin/|/v1/workers$|/metrics$)")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _is_ingest(path: str) -> bool:
    """Routes authenticated by a signature of their own: the engines' ingest webhooks, and
    signed media links (tests/events/test_media_links.py)."""
    return path.startswith(("/v1/ingest/", "/v1/media/"))


async def _routes(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    spec = (await client.get("/openapi.json")).json()
    routes = []
    for path, operations in spec["paths"].items():
        for method in operations:
            concrete = re.sub(r"\{[^}]+\}", "nothing-here", path)
            routes.append((method.upper(), concrete))
    return routes


async def _ask(client: httpx.AsyncClient, method: str, path: str) -> tuple[int, str | None, str]:
    """Status, error code and message. A live stream's body is not read: it would not end."""
    body = {"json": {}} if method in UNSAFE and method != "DELETE" else {}
    async with client.stream(method, path, **body) as response:
        if "text/event-stream" in response.headers.get("content-type", ""):
            return response.status_code, None, ""
        await response.aread()
    try:
        body = response.json()
        error = body["error"]
        if isinstance(error, str):  # Evolution's shape, under /evolution
            code = error.lower().replace(" ", "_")
            return response.status_code, code, " ".join(body["response"]["message"])
        return response.status_code, str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return response.status_code, None, response.text[:200]


async def test_every_route_holds_each_role_to_its_rules(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    await make_user(admin, "boss@example.test", "admin")
    await make_user(admin, "ops@acme.test", "operator", tenant="acme")
    await make_user(admin, "look@acme.test", "viewer", tenant="acme")
    routes = [r for r in await _routes(admin) if not _is_ingest(r[1])]
    assert len(routes) > 60, "the OpenAPI document lists the routes"

    async with server.client(None) as anonymous:
        for method, path in routes:
            status, _, _ = await _ask(anonymous, method, path)
            if (method, path) in PUBLIC:
                assert status != 401, (method, path)
            else:
                assert status == 401, (method, path, status)

    callers = {
        "admin key": server.client(ADMIN_KEY),
        "admin user": await token_client(server, "boss@example.test"),
        "operator": await token_client(server, "ops@acme.test"),
        "viewer": await token_client(server, "look@acme.test"),
    }
    for who, client in callers.items():
        async with client:
            for method, path in routes:
                if (method, path) in PUBLIC or path == "/v1/auth/logout":
                    continue
                status, code, message = await _ask(client, method, path)
                where = (who, method, path, status, message)
                assert status != 401, where
                refused = status == 403 and code == "forbidden"
                if who.startswith("admin"):
                    assert not refused, where
                elif ADMIN_ONLY.match(path):
                    assert refused, where
                elif who == "viewer" and method in UNSAFE:
                    assert refused, where
                    assert "viewer" in message
                else:
                    assert status != 403, where
