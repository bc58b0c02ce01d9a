"""Health, metrics, the event log and webhook subscriptions."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import connected_session, inbound, send, wait_message
from tests.support.server import RunningServer, eventually


async def test_health_needs_no_key_and_shows_details_to_the_admin_only(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    async with server.client(key=None) as client:
        response = await client.get("/health")
        wrong_key = await client.get("/health", headers={"authorization": "Bearer nope"})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}  # no worker host name, version or backend
    assert wrong_key.json() == {"status": "ok"}
    body = (await admin.get("/health")).json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["database_backend"] in ("sqlite", "postgresql")
    assert body["worker_id"] == server.services.worker_id


async def test_metrics(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    message = await send(admin, session["id"], to="5511988887777", text="x")
    await wait_message(admin, message["id"], "sent")
    wa_id = await inbound(admin, session["id"], **{"from": "5511988887777", "text": "y"})
    assert wa_id
    await admin.post(f"/v1/sessions/{session['id']}/messages", json={"to": "abc", "text": "x"})
    response = await admin.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'wagate_sessions{status="connected"} 1.0' in text
    assert 'wagate_sessions{status="stopped"} 0.0' in text
    assert 'wagate_messages_sent_status_total{status="sent",type="text"} 1.0' in text
    assert 'wagate_errors_total{code="invalid_destination"} 1.0' in text
    assert 'wagate_messages{direction="out",status="sent",type="text"} 1.0' in text
    assert "wagate_send_seconds_bucket" in text
    assert "wagate_worker_sessions 1.0" in text
    assert f"wagate_worker_capacity {server.services.settings.worker_capacity}.0" in text

    async def beating() -> bool:  # the worker's first heartbeat is a background task's
        return 'wagate_fleet_workers{alive="true"} 1.0' in (await admin.get("/metrics")).text

    await eventually(beating)


async def test_event_log_pull_with_cursor(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    first = (await admin.get("/v1/events", params={"limit": 2})).json()
    assert [e["type"] for e in first["items"]] == ["session.created", "session.status"]
    rest = (await admin.get("/v1/events", params={"after": first["next_cursor"]})).json()
    types = [e["type"] for e in rest["items"]]
    assert "session.qr" in types
    assert types[-1] == "session.status"
    assert rest["items"][-1]["data"]["status"] == "connected"
    assert all(e["session_id"] == session["id"] for e in rest["items"])
    assert len({e["id"] for e in first["items"] + rest["items"]}) == 2 + len(rest["items"])
    empty = (await admin.get("/v1/events", params={"after": rest["next_cursor"]})).json()
    assert empty["items"] == []
    assert empty["next_cursor"] == rest["next_cursor"]


async def test_webhook_subscriptions(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    created = await admin.post(
        "/v1/webhooks",
        json={
            "url": "http://127.0.0.1:9/hook",
            "events": ["message.received"],
            "session_id": session["id"],
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["message.received"]
    listed = (await admin.get("/v1/webhooks")).json()["items"]
    assert [h["id"] for h in listed] == [body["id"]]
    assert listed[0]["secret"] is None
    assert (await admin.delete(f"/v1/webhooks/{body['id']}")).status_code == 204
    assert (await admin.get("/v1/webhooks")).json()["items"] == []


async def test_openapi_docs_are_served(server: RunningServer) -> None:
    async with server.client(key=None) as client:
        assert (await client.get("/docs")).status_code == 200
        schema = (await client.get("/openapi.json")).json()
    assert "/v1/sessions/{session_id}/messages" in schema["paths"]
    assert "/v1/simulator/{session_id}/inbound" in schema["paths"]


async def test_session_health(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    message = await send(admin, sid, to="5511988887777", text="x")
    await wait_message(admin, message["id"], "sent")
    await inbound(admin, sid, **{"from": "5511988887777", "text": "y"})

    async def counted() -> dict[str, Any] | None:
        body = (await admin.get(f"/v1/sessions/{sid}/health")).json()
        return body if body["messages_last_24h"]["received"] == 1 else None

    health = await eventually(counted)
    assert health["status"] == "healthy"
    assert health["connection"] == "connected"
    assert health["messages_last_24h"] == {"sent": 1, "received": 1, "failed": 0}
    assert health["reconnect_attempts"] == 0
    assert health["running_here"] is True
    assert health["last_activity"]
    await admin.post(f"/v1/sessions/{sid}/stop")
    stopped = (await admin.get(f"/v1/sessions/{sid}/health")).json()
    assert stopped["status"] == "unhealthy"
    assert stopped["running_here"] is False
