"""Users for tests: made through the admin API, logged in through the token route."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.server import RunningServer

PASSWORD = "correct horse battery"


async def make_user(
    admin: httpx.AsyncClient, email: str, role: str, tenant: str | None = None
) -> dict[str, Any]:
    if tenant is not None:
        await admin.post("/v1/admin/tenants", json={"name": tenant})
    body: dict[str, Any] = {"email": email, "password": PASSWORD, "role": role}
    if tenant is not None:
        body["tenant"] = tenant
    response = await admin.post("/v1/admin/users", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/v1/auth/token", data={"username": email, "password": password})


async def token_client(server: RunningServer, email: str) -> httpx.AsyncClient:
    """A client that authenticates with the user's access token."""
    async with server.client(None) as anonymous:
        response = await login(anonymous, email)
    assert response.status_code == 200, response.text
    return server.client(response.json()["access_token"])
