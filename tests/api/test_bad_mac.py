"""The Bad MAC circuit breaker, driven by the simulator's decrypt-failure storm."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from tests.api.helpers import connected_session, wait_status
from tests.support.server import RunningServer
from wagate.sessions.breaker import DecryptBreaker
from wagate.store.models import Session


def test_breaker_counts_within_the_window() -> None:
    from datetime import UTC, datetime

    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    breaker = DecryptBreaker(window_s=60, threshold=3)
    assert [breaker.record(t0 + timedelta(seconds=s)) for s in (0, 10, 20)] == [False] * 3
    assert breaker.record(t0 + timedelta(seconds=30)) is True  # 4 in 60 s
    breaker.reset()
    assert breaker.record(t0 + timedelta(seconds=100)) is False
    spread = DecryptBreaker(window_s=60, threshold=3)
    assert not any(spread.record(t0 + timedelta(seconds=s)) for s in (0, 40, 80, 120, 160))


async def test_a_storm_wipes_the_login_and_asks_for_a_new_qr(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    url = f"/v1/simulator/{sid}/faults/decrypt"
    assert (await admin.post(url, json={"count": 20})).json()["delivered"] == 20
    assert (await admin.get(f"/v1/sessions/{sid}")).json()["status"] == "connected"
    await admin.post(url, json={"count": 1})  # the 21st within the window trips it
    await wait_status(admin, sid, "reconnecting")
    body = (await admin.get(f"/v1/sessions/{sid}")).json()
    assert body["status_reason"] == "bad_mac"
    async with server.services.db.read() as tx:
        row = (await tx.scalars(select(Session).where(Session.id == sid))).one()
        assert row.credentials is None
    alerts = (await admin.get("/v1/events", params={"type": "alert"})).json()["items"]
    assert [(a["data"]["kind"], a["data"]["failures"]) for a in alerts] == [("bad_mac_storm", 21)]
    await server.advance(29)
    assert (await admin.get(f"/v1/sessions/{sid}")).json()["status"] == "reconnecting"
    await server.advance(1)
    await wait_status(admin, sid, "qr")  # a new login, by QR
    metrics = (await admin.get("/metrics")).text
    assert f'wagate_decrypt_failures_total{{session_id="{sid}"}} 21.0' in metrics


async def test_failures_spread_out_do_not_trip(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    for _ in range(3):
        await admin.post(f"/v1/simulator/{sid}/faults/decrypt", json={"count": 10})
        await server.advance(61)
    assert (await admin.get(f"/v1/sessions/{sid}")).json()["status"] == "connected"
