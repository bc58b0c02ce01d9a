"""Small helpers for API tests: create and connect simulator sessions."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.server import RunningServer, eventually


async def create_session(
    client: httpx.AsyncClient, name: str = "demo", **body: Any
) -> dict[str, Any]:
    response = await client.post("/v1/sessions", json={"name": name, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def session_status(client: httpx.AsyncClient, session_id: str) -> str:
    response = await client.get(f"/v1/sessions/{session_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def wait_status(client: httpx.AsyncClient, session_id: str, status: str) -> None:
    async def check() -> bool:
        current = await session_status(client, session_id)
        assert current == status, f"status is {current}, waiting for {status}"
        return True

    await eventually(check)


async def connected_session(
    server: RunningServer, client: httpx.AsyncClient, name: str = "demo"
) -> dict[str, Any]:
    """Create a simulator session, scan its QR and wait until it is connected."""
    session = await create_session(client, name)
    await wait_status(client, session["id"], "qr")
    response = await client.post(f"/v1/simulator/{session['id']}/scan")
    assert response.status_code == 202, response.text
    await wait_status(client, session["id"], "connected")
    return dict((await client.get(f"/v1/sessions/{session['id']}")).json())


async def send(client: httpx.AsyncClient, session_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/v1/sessions/{session_id}/messages", json=body)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def wait_message(client: httpx.AsyncClient, message_id: str, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        body = (await client.get(f"/v1/messages/{message_id}")).json()
        assert body["status"] == status, f"{body['status']} != {status}: {body.get('error')}"
        return dict(body)

    result: dict[str, Any] = await eventually(check)
    return result


async def inbound(client: httpx.AsyncClient, session_id: str, **body: Any) -> str:
    response = await client.post(f"/v1/simulator/{session_id}/inbound", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["wa_message_id"])


async def find_inbound(
    client: httpx.AsyncClient, session_id: str, wa_message_id: str
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        page = (await client.get(f"/v1/sessions/{session_id}/messages?direction=in")).json()
        for item in page["items"]:
            if item["wa_message_id"] == wa_message_id:
                return dict(item)
        return None

    result: dict[str, Any] = await eventually(check)
    return result


SENT_OR_LATER = ("sent", "delivered", "read", "played")


async def wait_sent(client: httpx.AsyncClient, message_id: str) -> dict[str, Any]:
    """Wait until the message reached the network (a receipt may already have moved it on)."""

    async def check() -> dict[str, Any]:
        body = (await client.get(f"/v1/messages/{message_id}")).json()
        assert body["status"] in SENT_OR_LATER, f"{body['status']}: {body.get('error')}"
        return dict(body)

    result: dict[str, Any] = await eventually(check)
    return result


async def advance_until(
    server: RunningServer,
    client: httpx.AsyncClient,
    message_id: str,
    statuses: tuple[str, ...],
    *,
    step: float = 1.0,
    limit: float = 120.0,
) -> dict[str, Any]:
    """Move the clock forward in steps until the message reaches one of ``statuses``."""
    moved = 0.0
    while True:
        body = dict((await client.get(f"/v1/messages/{message_id}")).json())
        if body["status"] in statuses:
            return body
        assert moved <= limit, f"still {body['status']} after {moved} s: {body}"
        await server.advance(step)
        moved += step
        await asyncio.sleep(0.01)
