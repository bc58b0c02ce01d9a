"""A slow network (simulator fault): sends wait for it, and a keepalive slower than its
timeout makes the watchdog reconnect."""

from __future__ import annotations

import asyncio

import httpx

from tests.api.helpers import (
    SENT_OR_LATER,
    advance_until,
    connected_session,
    send,
    wait_status,
)
from tests.support.server import RunningServer, eventually

CONTACT = "5511988887777"


async def _slow(admin: httpx.AsyncClient, sid: str, latency_ms: int) -> None:
    response = await admin.post(f"/v1/simulator/{sid}/faults/slow", json={"latency_ms": latency_ms})
    assert response.status_code == 202, response.text
    assert response.json()["latency_ms"] == latency_ms


async def test_a_send_waits_for_the_slow_network(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    first = await send(admin, sid, to=CONTACT, text="the number is checked once")
    await advance_until(server, admin, first["id"], SENT_OR_LATER, step=0.1, limit=5)
    await _slow(admin, sid, 4000)
    message = await send(admin, sid, to=CONTACT, text="over a slow link")

    async def sending() -> bool:
        body = (await admin.get(f"/v1/messages/{message['id']}")).json()
        return bool(body["status"] == "sending")

    await eventually(sending)
    await server.advance(3.9)
    await asyncio.sleep(0.05)
    assert (await admin.get(f"/v1/messages/{message['id']}")).json()["status"] == "sending"
    on_network = (await admin.get(f"/v1/simulator/{sid}/sent")).json()["items"]
    assert [item["message_id"] for item in on_network] == [first["id"]]
    body = await advance_until(server, admin, message["id"], SENT_OR_LATER, step=0.1, limit=5)
    assert body["status"] in SENT_OR_LATER
    assert (await admin.get(f"/v1/sessions/{sid}")).json()["status"] == "connected"


async def test_a_network_slower_than_the_keepalive_timeout_reconnects(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    await _slow(admin, sid, 5000)
    await server.advance(30)  # the keepalive answers after 5 s: slow but alive
    await server.advance(5)
    await asyncio.sleep(0.05)
    assert (await admin.get(f"/v1/sessions/{sid}")).json()["status"] == "connected"

    await _slow(admin, sid, 15000)  # now slower than the 10 s keepalive timeout
    for _ in range(40):
        await server.advance(1)
        await asyncio.sleep(0.01)
        if (await admin.get(f"/v1/sessions/{sid}")).json()["status"] != "connected":
            break
    await wait_status(admin, sid, "reconnecting")
    page = await admin.get("/v1/events", params={"type": "session.status", "session_id": sid})
    assert page.json()["items"][-1]["data"]["cause"] == "keepalive_timeout"

    await _slow(admin, sid, 0)  # the network recovers: the session comes back

    async def back() -> bool:
        await server.advance(1)
        return bool((await admin.get(f"/v1/sessions/{sid}")).json()["status"] == "connected")

    await eventually(back)
