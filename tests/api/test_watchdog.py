"""The watchdog: keepalives, a stalled connection, and zombies that claim to be connected."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import connected_session, send, wait_sent, wait_status
from tests.support.server import RunningServer, eventually


async def _status_events(admin: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    page = await admin.get("/v1/events", params={"type": "session.status", "session_id": sid})
    return [e["data"] for e in page.json()["items"]]


async def test_a_stalled_connection_is_reconnected(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    await server.advance(30)  # a keepalive that is answered changes nothing
    assert (await admin.get(f"/v1/sessions/{sid}")).json()["status"] == "connected"
    await admin.post(f"/v1/simulator/{sid}/faults/stall")
    await server.advance(30)  # the next keepalive goes unanswered...
    await server.advance(9)
    assert (await admin.get(f"/v1/sessions/{sid}")).json()["status"] == "connected"
    await server.advance(1)  # ...for 10 s
    await wait_status(admin, sid, "reconnecting")
    assert (await _status_events(admin, sid))[-1]["cause"] == "keepalive_timeout"

    async def back() -> bool:
        await server.advance(1)
        return bool((await admin.get(f"/v1/sessions/{sid}")).json()["status"] == "connected")

    await eventually(back)


async def test_a_zombie_connection_is_reconnected(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    await admin.post(f"/v1/simulator/{sid}/faults/send", json={"count": 1, "code": "not_connected"})
    message = await send(admin, sid, to="5511988887777", text="through the zombie")

    async def reconnected() -> bool:
        events = await _status_events(admin, sid)
        return any(e.get("cause") == "zombie" for e in events)

    await eventually(reconnected)

    async def sent() -> bool:
        await server.advance(1)
        body = (await admin.get(f"/v1/messages/{message['id']}")).json()
        return bool(body["status"] in ("sent", "delivered", "read"))

    await eventually(sent)
    await wait_sent(admin, message["id"])
