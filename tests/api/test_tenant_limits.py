"""What a tenant key may not do: set priorities, exceed its quota, use the simulator when it is
the operator's, point a proxy inside the network; and proxy credentials never come back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.api.test_tenants import _tenant_key
from tests.support.server import RunningServer, make_settings, running_server
from wagate.sessions import ProxyProbe
from wagate.store.models import Session

CLOUD_CONFIG = {
    "phone_number_id": "123456",
    "access_token": "token-12345",
    "app_secret": "app-secret",
    "verify_token": "verify-12345",
}


def _cloud(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "transport": "cloud", "start": False, "config": CLOUD_CONFIG, **fields}


@pytest.fixture
async def strict(db_url: str, tmp_path: Path, clock: Any) -> AsyncIterator[RunningServer]:
    """Private URLs refused, the simulator kept from tenants, two sessions per tenant."""
    settings = make_settings(
        db_url,
        tmp_path / "data",
        allow_private_urls=False,
        tenant_simulator=False,
        tenant_max_sessions=2,
    )
    async with running_server(settings, clock) as running:
        yield running


async def test_only_the_admin_sets_a_priority(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    key = await _tenant_key(admin, "acme")
    async with server.client(key) as tenant:
        refused = await tenant.post("/v1/sessions", json={"name": "vip", "priority": 1000})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        created = await tenant.post("/v1/sessions", json={"name": "plain", "start": False})
        assert created.status_code == 201
        session_id = created.json()["id"]
        patched = await tenant.patch(f"/v1/sessions/{session_id}", json={"priority": 5})
        assert patched.status_code == 403
    by_admin = await admin.patch(f"/v1/sessions/{session_id}", json={"priority": 5})
    assert by_admin.status_code == 200
    assert by_admin.json()["priority"] == 5


async def test_a_proxy_on_a_transport_that_uses_none_is_refused(
    admin: httpx.AsyncClient,
) -> None:
    for transport, config in (
        ("simulator", {}),
        ("evolution", {"base_url": "http://127.0.0.1:9", "api_key": "evo-key-12345"}),
    ):
        response = await admin.post(
            "/v1/sessions",
            json={
                "name": f"p-{transport}",
                "transport": transport,
                "start": False,
                "config": config,
                "proxy_url": "socks5://proxy.example.com:1080",
            },
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "unsupported_by_transport"


async def test_proxy_credentials_are_sealed_and_never_shown(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    proxy = "socks5://alice:s3cret-pass@127.0.0.1:1080"
    created = await admin.post("/v1/sessions", json=_cloud("proxied", proxy_url=proxy))
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["proxy_url"] == "socks5://127.0.0.1:1080"
    shown = await admin.get(f"/v1/sessions/{session['id']}")
    assert "s3cret" not in shown.text
    assert "alice" not in shown.text
    async with server.services.db.read() as tx:
        stored = (
            await tx.execute(
                text("SELECT proxy_url FROM sessions WHERE id = :id"), {"id": session["id"]}
            )
        ).scalar_one()
        row = await tx.get(Session, session["id"])
    assert "s3cret" not in stored
    assert "alice" not in stored
    assert row is not None
    assert server.services.manager.session_proxy(row) == proxy  # what the transport gets


async def test_a_tenant_proxy_inside_the_network_is_refused(strict: RunningServer) -> None:
    async with strict.client() as admin:
        for proxy in ("socks5://127.0.0.1:1080", "http://10.0.0.5:3128", "socks5://localhost:9"):
            response = await admin.post("/v1/sessions", json=_cloud("p", proxy_url=proxy))
            assert response.status_code == 422, proxy
            assert response.json()["error"]["code"] == "unsafe_url"


async def test_the_probe_connects_to_no_private_address_of_a_tenant(clock: Any) -> None:
    connections = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    listener = await asyncio.start_server(count, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        probe = ProxyProbe(clock, allow_private=False)
        refused = await probe.check(f"socks5://127.0.0.1:{port}")
        assert refused.state == "unreachable"
        assert refused.error is not None
        assert "not a public address" in refused.error
        assert connections == 0
        trusted = await probe.check(f"http://127.0.0.1:{port}", trusted=True)  # the default
        assert trusted.state == "reachable"
        assert connections == 1
    finally:
        listener.close()
        await listener.wait_closed()


async def test_the_simulator_can_be_kept_from_tenant_keys(strict: RunningServer) -> None:
    async with strict.client() as admin:
        key = await _tenant_key(admin, "acme")
        assert (await admin.post("/v1/sessions", json={"name": "mine"})).status_code == 201
    async with strict.client(key) as tenant:
        refused = await tenant.post("/v1/sessions", json={"name": "sim", "start": False})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        assert (await tenant.post("/v1/sessions", json=_cloud("cloud"))).status_code == 201


async def test_a_tenant_stops_at_its_quota(strict: RunningServer) -> None:
    async with strict.client() as admin:
        key = await _tenant_key(admin, "acme")
        tenant_id = (await admin.get("/v1/admin/tenants/acme")).json()["id"]
        async with strict.client(key) as tenant:
            for n in range(2):  # WAGATE_TENANT_MAX_SESSIONS=2
                assert (await tenant.post("/v1/sessions", json=_cloud(f"c{n}"))).status_code == 201
            third = await tenant.post("/v1/sessions", json=_cloud("c2"))
            assert third.status_code == 403
            assert third.json()["error"]["code"] == "session_quota_exceeded"
            raised = await admin.patch(f"/v1/admin/tenants/{tenant_id}", json={"max_sessions": 3})
            assert raised.json()["max_sessions"] == 3
            assert (await tenant.post("/v1/sessions", json=_cloud("c2"))).status_code == 201
            assert (await tenant.post("/v1/sessions", json=_cloud("c3"))).status_code == 403
            # concurrent creations cannot both take a freed place
            await admin.patch(f"/v1/admin/tenants/{tenant_id}", json={"max_sessions": 4})
            racing = await asyncio.gather(
                *(tenant.post("/v1/sessions", json=_cloud(f"r{n}")) for n in range(3))
            )
            assert sorted(r.status_code for r in racing) == [201, 403, 403]
