"""Session lifecycle over HTTP on the simulator: QR, scan, pairing, stop, start, logout, delete."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

import httpx

from tests.api.helpers import connected_session, create_session, session_status, wait_status
from tests.support.server import RunningServer, eventually


async def test_create_shows_a_rotating_qr_then_scan_connects(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await create_session(admin, "demo")
    assert session["transport"] == "simulator"
    assert session["name"] == "demo"
    await wait_status(admin, session["id"], "qr")

    first = (await admin.get(f"/v1/sessions/{session['id']}/qr")).json()
    assert first["qr"].startswith("2@")
    assert first["image"].startswith("data:image/png;base64,")
    assert base64.b64decode(first["image"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    created = server.clock.now()

    await server.advance(59)
    same = (await admin.get(f"/v1/sessions/{session['id']}/qr")).json()
    assert same["qr"] == first["qr"]
    await server.advance(1)

    async def rotated() -> dict[str, str] | None:
        response = await admin.get(f"/v1/sessions/{session['id']}/qr")
        if response.status_code == 409:  # between the old code's expiry and the new code
            return None
        body = response.json()
        return body if body["qr"] != first["qr"] else None

    second = await eventually(rotated)
    first_expiry = datetime.fromisoformat(first["expires_at"])
    assert first_expiry == created + timedelta(seconds=60)
    assert datetime.fromisoformat(second["expires_at"]) == first_expiry + timedelta(seconds=20)

    scanned = await admin.post(f"/v1/simulator/{session['id']}/scan")
    assert scanned.status_code == 202
    await wait_status(admin, session["id"], "connected")
    body = (await admin.get(f"/v1/sessions/{session['id']}")).json()
    assert body["phone"]
    assert body["phone"].isdigit()
    assert (await admin.get(f"/v1/sessions/{session['id']}/qr")).status_code == 409


async def test_qr_codes_run_out_and_the_session_stops(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await create_session(admin, "unscanned")
    seen: list[str] = []

    async def new_code() -> str | None:
        response = await admin.get(f"/v1/sessions/{session['id']}/qr")
        if response.status_code != 200 or response.json()["qr"] in seen:
            return None
        return str(response.json()["qr"])

    for ttl in (60, 20, 20, 20, 20):
        seen.append(await eventually(new_code))
        await server.advance(ttl)
    await wait_status(admin, session["id"], "stopped")
    assert len(set(seen)) == 5
    body = (await admin.get(f"/v1/sessions/{session['id']}")).json()
    assert body["status_reason"] == "qr_timeout"
    response = await admin.get(f"/v1/sessions/{session['id']}/qr")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_waiting_for_scan"
    restarted = await admin.post(f"/v1/sessions/{session['id']}/start")
    assert restarted.status_code == 202
    await wait_status(admin, session["id"], "qr")


async def test_scan_without_a_qr_is_409(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await create_session(admin, "idle", start=False)
    assert session["status"] == "stopped"
    response = await admin.post(f"/v1/simulator/{session['id']}/scan")
    assert response.status_code in (404, 409)
    assert response.json()["error"]["code"] in ("not_found", "not_waiting_for_scan")


async def test_pairing_code_login(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await create_session(admin, "paired")
    await wait_status(admin, session["id"], "qr")
    response = await admin.post(
        f"/v1/sessions/{session['id']}/pairing-code", json={"phone": "+55 11 91234-5678"}
    )
    assert response.status_code == 200, response.text
    code = response.json()["code"]
    assert len(code) == 9
    assert code[4] == "-"
    wrong = await admin.post(f"/v1/simulator/{session['id']}/pair", json={"code": "AAAA-AAAA"})
    assert wrong.status_code == 409
    right = await admin.post(f"/v1/simulator/{session['id']}/pair", json={"code": code})
    assert right.status_code == 202, right.text
    await wait_status(admin, session["id"], "connected")
    assert (await admin.get(f"/v1/sessions/{session['id']}")).json()["phone"] == "5511912345678"


async def test_stop_then_start_reconnects_without_a_new_qr(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    stopped = await admin.post(f"/v1/sessions/{session['id']}/stop")
    assert stopped.status_code == 202
    assert stopped.json()["status"] == "stopped"
    assert stopped.json()["desired_state"] == "stopped"
    started = await admin.post(f"/v1/sessions/{session['id']}/start")
    assert started.status_code == 202
    await wait_status(admin, session["id"], "connected")


async def test_logout_wipes_the_login(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    response = await admin.post(f"/v1/sessions/{session['id']}/logout")
    assert response.status_code == 202
    assert response.json()["status"] == "logged_out"
    await admin.post(f"/v1/sessions/{session['id']}/start")
    await wait_status(admin, session["id"], "qr")


async def test_network_drop_reconnects_and_401_logs_out(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    response = await admin.post(f"/v1/simulator/{session['id']}/disconnect", json={"code": 428})
    assert response.status_code == 202
    await wait_status(admin, session["id"], "connected")

    await admin.post(f"/v1/simulator/{session['id']}/disconnect", json={"code": 500})
    await wait_status(admin, session["id"], "reconnecting")
    await server.advance(6)  # second attempt (the 428 was the first): 5 s, +-10 %
    await wait_status(admin, session["id"], "connected")

    await admin.post(f"/v1/simulator/{session['id']}/disconnect", json={"code": 401})
    await wait_status(admin, session["id"], "logged_out")
    await admin.post(f"/v1/sessions/{session['id']}/start")
    await wait_status(admin, session["id"], "qr")


async def test_delete_removes_the_session(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    response = await admin.delete(f"/v1/sessions/{session['id']}")
    assert response.status_code == 204
    assert (await admin.get(f"/v1/sessions/{session['id']}")).status_code == 404
    listed = (await admin.get("/v1/sessions")).json()["items"]
    assert session["id"] not in [s["id"] for s in listed]


async def test_list_and_get_by_name(server: RunningServer, admin: httpx.AsyncClient) -> None:
    a = await create_session(admin, "alpha", start=False)
    b = await create_session(admin, "beta", start=False)
    listed = (await admin.get("/v1/sessions")).json()["items"]
    assert [s["id"] for s in listed] == [a["id"], b["id"]]
    assert (await admin.get("/v1/sessions/beta")).json()["id"] == b["id"]
    assert await session_status(admin, a["id"]) == "stopped"


async def test_duplicate_name_is_409(server: RunningServer, admin: httpx.AsyncClient) -> None:
    await create_session(admin, "twin", start=False)
    response = await admin.post("/v1/sessions", json={"name": "twin", "start": False})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_name_taken"
