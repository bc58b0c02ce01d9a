"""The close-code policy, row by row, driven by the simulator's network drops."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import connected_session, wait_status
from tests.support.server import RunningServer, eventually
from wagate.sessions import CLOSE_CODES, Action, rule_for


def test_the_table_covers_the_documented_codes() -> None:
    assert {code: rule.action for code, rule in CLOSE_CODES.items()} == {
        401: Action.LOGGED_OUT,
        402: Action.STOP,
        403: Action.LOGGED_OUT,
        405: Action.STOP,
        408: Action.RECONNECT_BACKOFF,
        411: Action.RECONNECT_BACKOFF,
        428: Action.RECONNECT_NOW,
        440: Action.STOP,
        500: Action.RECONNECT_BACKOFF,
        503: Action.RECONNECT_SLOW,
        515: Action.RECONNECT_NOW,
    }
    assert rule_for(499).action is Action.RECONNECT_BACKOFF  # unknown: backoff
    assert rule_for(408, "qr_timeout").reason == "qr_timeout"


async def _status_events(admin: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    page = await admin.get(
        "/v1/events", params={"type": "session.status", "session_id": session_id, "limit": 1000}
    )
    return [e["data"] for e in page.json()["items"]]


@pytest.mark.parametrize("code", [428, 515])
async def test_restart_codes_reconnect_at_once(
    server: RunningServer, admin: httpx.AsyncClient, code: int
) -> None:
    session = await connected_session(server, admin)
    await admin.post(f"/v1/simulator/{session['id']}/disconnect", json={"code": code})
    await wait_status(admin, session["id"], "connected")  # no clock movement needed
    events = await _status_events(admin, session["id"])
    reconnecting = [e for e in events if e["status"] == "reconnecting"]
    assert reconnecting[-1]["code"] == code
    assert reconnecting[-1]["delay_s"] == 0
    metrics = (await admin.get("/metrics")).text
    assert f'wagate_session_reconnects_total{{session_id="{session["id"]}"}} 1.0' in metrics


@pytest.mark.parametrize(
    ("code", "slow"), [(408, False), (411, False), (500, False), (503, True), (499, False)]
)
async def test_other_codes_reconnect_after_backoff(
    server: RunningServer, admin: httpx.AsyncClient, code: int, slow: bool
) -> None:
    session = await connected_session(server, admin)
    await admin.post(f"/v1/simulator/{session['id']}/disconnect", json={"code": code})
    await wait_status(admin, session["id"], "reconnecting")
    events = await _status_events(admin, session["id"])
    delay = events[-1]["delay_s"]
    low, high = (3.6, 4.4) if slow else (1.8, 2.2)  # 2 s first step, +-10 % jitter; x2 for 503
    assert low <= delay <= high
    await server.advance(delay - 0.1)
    assert (await admin.get(f"/v1/sessions/{session['id']}")).json()["status"] == "reconnecting"
    await server.advance(0.2)
    await wait_status(admin, session["id"], "connected")


async def test_403_logs_out_and_raises_an_alert(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    await admin.post(f"/v1/simulator/{session['id']}/disconnect", json={"code": 403})
    await wait_status(admin, session["id"], "logged_out")
    body = (await admin.get(f"/v1/sessions/{session['id']}")).json()
    assert body["status_reason"] == "forbidden"
    assert body["desired_state"] == "stopped"
    alerts = (await admin.get("/v1/events", params={"type": "alert"})).json()["items"]
    assert [a["data"]["kind"] for a in alerts] == ["forbidden"]
    assert "banned" in alerts[0]["data"]["message"]


@pytest.mark.parametrize(
    ("code", "reason", "words"),
    [(402, "temporarily_banned", "banned"), (405, "client_outdated", "upgrade")],
)
async def test_a_ban_or_an_outdated_client_stops_with_an_alert_and_keeps_the_login(
    server: RunningServer, admin: httpx.AsyncClient, code: int, reason: str, words: str
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    await admin.post(f"/v1/simulator/{sid}/disconnect", json={"code": code})
    await wait_status(admin, sid, "failed")
    assert (await admin.get(f"/v1/sessions/{sid}")).json()["status_reason"] == reason
    alerts = (await admin.get("/v1/events", params={"type": "alert"})).json()["items"]
    assert [a["data"]["kind"] for a in alerts] == [reason]
    assert words in alerts[0]["data"]["message"]
    await server.advance(120)  # no reconnect on its own
    assert (await admin.get(f"/v1/sessions/{sid}")).json()["status"] == "failed"
    await admin.post(f"/v1/sessions/{sid}/start")  # the login was kept: no new QR
    await wait_status(admin, sid, "connected")


async def test_440_replaced_stops_without_reconnecting(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    await admin.post(f"/v1/simulator/{session['id']}/disconnect", json={"code": 440})
    await wait_status(admin, session["id"], "failed")
    body = (await admin.get(f"/v1/sessions/{session['id']}")).json()
    assert body["status_reason"] == "replaced"
    await server.advance(120)
    assert (await admin.get(f"/v1/sessions/{session['id']}")).json()["status"] == "failed"


async def test_attempts_run_out_and_the_session_fails(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    for attempt in range(1, 11):  # WAGATE_RECONNECT_MAX_ATTEMPTS = 10
        await admin.post(f"/v1/simulator/{sid}/disconnect", json={"code": 500})
        await wait_status(admin, sid, "reconnecting")
        events = await _status_events(admin, sid)
        assert events[-1]["attempt"] == attempt
        await server.advance(events[-1]["delay_s"] + 0.1)
        await wait_status(admin, sid, "connected")
        # a connection that drops at once does not reset the count: drop it again now
    await admin.post(f"/v1/simulator/{sid}/disconnect", json={"code": 500})

    async def failed() -> bool:
        return bool((await admin.get(f"/v1/sessions/{sid}")).json()["status"] == "failed")

    await eventually(failed)
    alerts = (await admin.get("/v1/events", params={"type": "alert"})).json()["items"]
    assert alerts[-1]["data"]["kind"] == "reconnect_attempts_exhausted"


async def test_a_stable_connection_resets_the_count(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    for expected in (1, 2):
        await admin.post(f"/v1/simulator/{sid}/disconnect", json={"code": 500})
        await wait_status(admin, sid, "reconnecting")
        events = await _status_events(admin, sid)
        assert events[-1]["attempt"] == expected
        await server.advance(events[-1]["delay_s"] + 0.1)
        await wait_status(admin, sid, "connected")
    await server.advance(60)  # stable for a minute
    await admin.post(f"/v1/simulator/{sid}/disconnect", json={"code": 500})
    await wait_status(admin, sid, "reconnecting")
    assert (await _status_events(admin, sid))[-1]["attempt"] == 1
