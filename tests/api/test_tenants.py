"""Admin key, tenants, API keys, and isolation between tenants."""

from __future__ import annotations

import hashlib

import httpx

from tests.api.helpers import connected_session, create_session, inbound, send
from tests.support.server import RunningServer
from wagate.store.models import ApiKey


async def _tenant_key(admin: httpx.AsyncClient, name: str) -> str:
    tenant = await admin.post("/v1/admin/tenants", json={"name": name})
    assert tenant.status_code == 201, tenant.text
    key = await admin.post(f"/v1/admin/tenants/{tenant.json()['id']}/keys", json={"name": "ci"})
    assert key.status_code == 201, key.text
    return str(key.json()["key"])


async def test_every_route_needs_a_key(server: RunningServer) -> None:
    async with server.client(key=None) as anonymous:
        assert (await anonymous.get("/health")).status_code == 200
        for method, path in [
            ("GET", "/v1/sessions"),
            ("POST", "/v1/sessions"),
            ("GET", "/metrics"),
            ("GET", "/v1/webhooks"),
            ("GET", "/v1/messages/msg_x"),
            ("GET", "/v1/admin/tenants"),
        ]:
            response = await anonymous.request(method, path)
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "unauthorized"
    async with server.client(key="wrong") as wrong:
        assert (await wrong.get("/v1/sessions")).status_code == 401


async def test_keys_are_stored_hashed_and_can_be_revoked(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    key = await _tenant_key(admin, "acme")
    async with server.services.db.read() as tx:
        from sqlalchemy import select

        rows = list(await tx.scalars(select(ApiKey)))
    assert [r.key_hash for r in rows] == [hashlib.sha256(key.encode()).hexdigest()]
    assert key not in {r.prefix for r in rows}
    async with server.client(key) as tenant:
        assert (await tenant.get("/v1/sessions")).status_code == 200
        assert (await tenant.get("/v1/admin/tenants")).status_code == 403
        revoked = await admin.delete(f"/v1/admin/keys/{rows[0].id}")
        assert revoked.status_code == 200
        assert revoked.json()["revoked_at"]
        assert (await tenant.get("/v1/sessions")).status_code == 401


async def test_tenants_never_see_each_other(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    async with (
        server.client(await _tenant_key(admin, "a")) as a,
        server.client(await _tenant_key(admin, "b")) as b,
    ):
        session = await connected_session(server, a, "shop")
        message = await send(a, session["id"], to="5511988887777", text="private")
        await inbound(a, session["id"], **{"from": "5511988887777", "text": "secret"})
        hook = await a.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
        assert hook.status_code == 201

        sid = session["id"]
        assert (await b.get("/v1/sessions")).json()["items"] == []
        for method, path in [
            ("GET", f"/v1/sessions/{sid}"),
            ("GET", "/v1/sessions/shop"),
            ("GET", f"/v1/sessions/{sid}/messages"),
            ("GET", f"/v1/sessions/{sid}/qr"),
            ("POST", f"/v1/sessions/{sid}/stop"),
            ("POST", f"/v1/sessions/{sid}/logout"),
            ("DELETE", f"/v1/sessions/{sid}"),
            ("GET", f"/v1/messages/{message['id']}"),
            ("GET", f"/v1/messages/{message['id']}/media"),
            ("POST", f"/v1/simulator/{sid}/scan"),
            ("GET", f"/v1/simulator/{sid}/sent"),
            ("GET", f"/v1/webhooks/{hook.json()['id']}"),
            ("DELETE", f"/v1/webhooks/{hook.json()['id']}"),
        ]:
            response = await b.request(method, path)
            assert response.status_code == 404, (method, path, response.text)
        send_other = await b.post(f"/v1/sessions/{sid}/messages", json={"to": "1", "text": "x"})
        assert send_other.status_code == 404
        assert (await b.get("/v1/webhooks")).json()["items"] == []
        assert (await b.get("/v1/events")).json()["items"] == []
        assert len((await a.get("/v1/events")).json()["items"]) > 0
        assert (await a.get(f"/v1/sessions/{sid}")).json()["status"] == "connected"
        # the same session name may exist in both tenants
        await create_session(b, "shop", start=False)
        assert len((await admin.get("/v1/sessions")).json()["items"]) == 2


async def test_admin_sessions_go_to_the_default_tenant_or_a_chosen_one(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    key = await _tenant_key(admin, "chosen")
    made = await create_session(admin, "for-chosen", start=False, tenant="chosen")
    own = await create_session(admin, "mine", start=False)
    assert made["tenant_id"] != own["tenant_id"]
    async with server.client(key) as tenant:
        listed = (await tenant.get("/v1/sessions")).json()["items"]
        assert [s["name"] for s in listed] == ["for-chosen"]
        refused = await tenant.post("/v1/sessions", json={"name": "x", "tenant": "default"})
        assert refused.status_code == 403


async def test_tenant_admin_routes(server: RunningServer, admin: httpx.AsyncClient) -> None:
    created = await admin.post("/v1/admin/tenants", json={"name": "zeta"})
    again = await admin.post("/v1/admin/tenants", json={"name": "zeta"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "tenant_exists"
    names = [t["name"] for t in (await admin.get("/v1/admin/tenants")).json()["items"]]
    assert names == ["default", "zeta"]
    tid = created.json()["id"]
    await admin.post(f"/v1/admin/tenants/{tid}/keys", json={})
    keys = (await admin.get(f"/v1/admin/tenants/{tid}/keys")).json()["items"]
    assert len(keys) == 1
    assert keys[0]["key"] is None
    assert (await admin.delete(f"/v1/admin/tenants/{tid}")).status_code == 204
    assert (await admin.get(f"/v1/admin/tenants/{tid}")).status_code == 404
