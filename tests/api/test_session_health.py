"""A session's health: the protocol monitor's counters and the proxy's reachability."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from neonize.proto import Neonize_pb2 as neo

from tests.api.helpers import connected_session, create_session, send, wait_message, wait_status
from tests.support.server import RunningServer, eventually, make_settings, running_server
from tests.transports.whatsmeow.app_support import inject, transport_of, use_fake_engine

CONTACT = "5511988887777"


async def _health(admin: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    response = await admin.get(f"/v1/sessions/{sid}/health")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_the_protocol_monitor_counts_operations_and_surprises(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    ok = await send(admin, sid, to=CONTACT, text="fine", humanize=False)
    await wait_message(admin, ok["id"], "sent")
    await admin.post(
        f"/v1/simulator/{sid}/faults/send",
        json={"count": 1, "code": "media_rejected", "transient": False},
    )
    bad = await send(admin, sid, to=CONTACT, text="refused", humanize=False)
    await wait_message(admin, bad["id"], "failed")
    await server.advance(30)  # one keepalive, answered
    reply = await admin.post(
        f"/v1/simulator/{sid}/faults/unknown-event", json={"kind": "newsletter_update"}
    )
    assert reply.json()["delivered"] is True

    async def counted() -> dict[str, Any] | None:
        body = (await _health(admin, sid))["protocol"]
        return body if body["operations"]["keepalive"]["ok"] == 1 else None

    protocol = await eventually(counted)
    send_stats = protocol["operations"]["send"]
    assert (send_stats["ok"], send_stats["failed"]) == (1, 1)
    assert send_stats["success_rate"] == 0.5
    assert send_stats["last_error"] == "media_rejected"
    assert protocol["operations"]["connect"]["ok"] >= 1
    assert protocol["unknown_event_types"] == {"simulator:newsletter_update": 1}
    assert protocol["unknown_close_codes"] == {}

    await admin.post(f"/v1/simulator/{sid}/disconnect", json={"code": 499})  # not in the table
    await wait_status(admin, sid, "reconnecting")
    protocol = (await _health(admin, sid))["protocol"]
    assert protocol["unknown_close_codes"] == {"499": 1}
    metrics = (await admin.get("/metrics")).text
    assert 'wagate_unknown_close_codes_total{code="499",transport="simulator"} 1.0' in metrics
    assert (
        'wagate_transport_operations_total{operation="send",outcome="failed",'
        'transport="simulator"} 1.0'
    ) in metrics
    assert 'wagate_unknown_events_total{kind="simulator:newsletter_update"' in metrics


@asynccontextmanager
async def _socks5_server(answer: bytes) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A loopback server that reads a SOCKS5 greeting and answers ``answer``."""
    greetings: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readexactly(2)
        methods = await reader.readexactly(head[1])
        greetings.append(head + methods)
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, greetings
    finally:
        server.close()
        await server.wait_closed()


async def _closed_port() -> int:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()
    return port


async def test_health_shows_whether_the_proxy_answers(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    async with _socks5_server(b"\x05\x00") as (port, greetings):
        good = await _cloud(admin, "via-proxy", f"socks5://user:pw@127.0.0.1:{port}")
        health = await _health(admin, good["id"])
        assert health["proxy_status"] == "reachable"
        assert health["proxy"]["url"] == f"socks5://127.0.0.1:{port}"  # no credentials shown
        assert health["proxy"]["latency_ms"] is not None
        assert greetings == [b"\x05\x02\x00\x02"]  # no auth and user/password offered

    dead = await _cloud(admin, "dead-proxy", f"http://127.0.0.1:{await _closed_port()}")
    health = await _health(admin, dead["id"])
    assert health["proxy_status"] == "unreachable"
    assert health["proxy"]["error"]

    async with _socks5_server(b"\x05\xff") as (port, _):
        picky = await _cloud(admin, "picky-proxy", f"socks5://127.0.0.1:{port}")
        health = await _health(admin, picky["id"])
        assert health["proxy_status"] == "rejected"
        assert "authentication" in health["proxy"]["error"]

    plain = await create_session(admin, "no-proxy", start=False)
    health = await _health(admin, plain["id"])
    assert health["proxy_status"] == "none"
    assert health["proxy"] is None


async def test_a_connected_session_behind_a_dead_proxy_is_degraded(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    use_fake_engine(server)  # whatsmeow on a fake engine: it connects without the proxy
    port = await _closed_port()
    session = await create_session(
        admin, "behind", transport="whatsmeow", proxy_url=f"http://127.0.0.1:{port}"
    )
    sid = session["id"]
    transport = await transport_of(server, sid)
    await inject(transport, neo.Connected(status=True))
    await wait_status(admin, sid, "connected")
    health = await _health(admin, sid)
    assert health["connection"] == "connected"
    assert health["status"] == "degraded"
    assert health["proxy_status"] == "unreachable"


async def test_the_default_proxy_counts_only_where_the_transport_uses_it(
    db_url: str, tmp_path: Path, clock: Any
) -> None:
    port = await _closed_port()
    settings = make_settings(
        db_url, tmp_path / "data", default_proxy_url=f"http://127.0.0.1:{port}"
    )
    async with running_server(settings, clock) as running, running.client() as admin:
        simulated = await connected_session(running, admin)
        health = await _health(admin, simulated["id"])
        assert health["status"] == "healthy"
        assert health["proxy_status"] == "none"
        cloud = await _cloud(admin, "cloud", None)
        assert (await _health(admin, cloud["id"]))["proxy_status"] == "unreachable"


async def _cloud(admin: httpx.AsyncClient, name: str, proxy_url: str | None) -> dict[str, Any]:
    """A cloud session (a transport that uses a proxy), not started."""
    body: dict[str, Any] = {
        "name": name,
        "transport": "cloud",
        "start": False,
        "config": {
            "phone_number_id": "123456",
            "access_token": "token-12345",
            "app_secret": "app-secret",
            "verify_token": "verify-12345",
        },
    }
    if proxy_url is not None:
        body["proxy_url"] = proxy_url
    response = await admin.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())
