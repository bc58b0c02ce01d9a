"""PATCH /v1/sessions/{id}: a session's config, proxy and priority change in place."""

from __future__ import annotations

import httpx
from neonize.proto import Neonize_pb2 as neo

from tests.api.helpers import create_session, wait_status
from tests.support.server import RunningServer, eventually
from tests.transports.whatsmeow.app_support import inject, transport_of, use_fake_engine
from wagate.store.models import Session
from wagate.store.repositories import sessions
from wagate.transports.whatsmeow import WhatsmeowTransport


async def test_priority_and_proxy_change_and_the_session_reconnects_with_its_login(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    use_fake_engine(server)  # whatsmeow on a fake engine: a transport that uses a proxy
    session = await create_session(admin, "wm", transport="whatsmeow")
    sid = session["id"]
    await inject(await transport_of(server, sid), neo.Connected(status=True))
    await wait_status(admin, sid, "connected")
    patched = await admin.patch(
        f"/v1/sessions/{sid}",
        json={"priority": 7, "proxy_url": "socks5://user:pw@127.0.0.1:1080"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["priority"] == 7
    assert patched.json()["proxy_url"] == "socks5://127.0.0.1:1080"  # without credentials
    transport = await eventually(lambda: _reconnected(server, sid))
    assert transport.context.proxy_url == "socks5://user:pw@127.0.0.1:1080"
    await inject(transport, neo.Connected(status=True))
    await wait_status(admin, sid, "connected")  # reconnected with its login, no new scan
    page = (await admin.get("/v1/events", params={"session_id": sid})).json()["items"]
    updated = [e["data"] for e in page if e["type"] == "session.updated"]
    assert updated == [{"config_changed": False, "proxy_changed": True, "priority": 7}]
    reasons = [e["data"].get("reason") for e in page if e["type"] == "session.status"]
    assert "config_changed" in reasons

    cleared = await admin.patch(f"/v1/sessions/{sid}", json={"proxy_url": None})
    assert cleared.json()["proxy_url"] is None
    assert cleared.json()["priority"] == 7  # untouched


async def _reconnected(server: RunningServer, sid: str) -> WhatsmeowTransport | None:
    """The session's transport once it was rebuilt with the new proxy."""
    runtime = server.services.manager.runtime(sid)
    transport = runtime.transport if runtime else None
    if isinstance(transport, WhatsmeowTransport) and transport.context.proxy_url:
        return transport
    return None


async def test_config_keys_are_merged_and_validated(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await create_session(
        admin, "tuned", config={"push_name": "Shop", "read_delay_ms": 100}, start=False
    )
    sid = session["id"]
    bad = await admin.patch(f"/v1/sessions/{sid}", json={"config": {"read_delay_ms": -5}})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_config"
    good = await admin.patch(
        f"/v1/sessions/{sid}", json={"config": {"push_name": "Shop 2", "read_delay_ms": None}}
    )
    assert good.status_code == 200, good.text
    config = server.services.manager.session_config(await _row(server, sid))
    assert config == {"push_name": "Shop 2"}  # merged: one key changed, one removed


async def test_bad_proxy_and_unknown_fields_are_422(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await create_session(admin, "p", start=False))["id"]
    for body in ({"proxy_url": "not a url"}, {"name": "renamed"}):
        answer = await admin.patch(f"/v1/sessions/{sid}", json=body)
        assert answer.status_code == 422, body

    async def unchanged() -> bool:
        return bool((await admin.get(f"/v1/sessions/{sid}")).json()["name"] == "p")

    await eventually(unchanged)


async def _row(server: RunningServer, sid: str) -> Session:
    async with server.services.db.read() as tx:
        return await sessions.get_session(tx, sid, None)
