"""A network-wide outage (simulator fault): every session is dropped at once and comes back."""

from __future__ import annotations

import httpx

from tests.api.helpers import connected_session, wait_status
from tests.support.server import RunningServer, eventually


async def _tenant_key(admin: httpx.AsyncClient, name: str) -> str:
    tenant = await admin.post("/v1/admin/tenants", json={"name": name})
    key = await admin.post(f"/v1/admin/tenants/{tenant.json()['id']}/keys", json={"name": "ci"})
    return str(key.json()["key"])


async def test_every_session_is_dropped_and_reconnects(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    ids = [(await connected_session(server, admin, f"s{i}"))["id"] for i in range(3)]
    answer = await admin.post("/v1/simulator/outage", json={"code": 428})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"code": 428, "dropped": 3}

    async def all_back() -> bool:
        await server.advance(1)
        listed = (await admin.get("/v1/sessions")).json()["items"]
        return all(s["status"] == "connected" for s in listed)

    await eventually(all_back)
    for sid in ids:
        page = await admin.get("/v1/events", params={"type": "session.status", "session_id": sid})
        causes = [e["data"].get("code") for e in page.json()["items"]]
        assert 428 in causes


async def test_a_tenant_drops_only_its_own_sessions(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    theirs = (await connected_session(server, admin, "admins"))["id"]
    key = await _tenant_key(admin, "acme")
    async with server.client(key) as tenant:
        mine = (await connected_session(server, tenant, "mine"))["id"]
        answer = await tenant.post("/v1/simulator/outage", json={"code": 503})
        assert answer.json()["dropped"] == 1
        await wait_status(tenant, mine, "reconnecting")
    assert (await admin.get(f"/v1/sessions/{theirs}")).json()["status"] == "connected"
