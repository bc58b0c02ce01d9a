"""Stopping `wagate serve`: SIGTERM waits for in-flight sends; a second SIGTERM exits at once.

A real process on each database. The session's network is made slow (every
round trip takes a minute) so a send is in flight when the signal arrives.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.process import ServerProcess, server_env, until

pytestmark = pytest.mark.slow

ADMIN_KEY = "wg_admin_shutdown_signals_test_key_0123456789"


async def _server_with_a_send_in_flight(
    db_url: str, tmp_path: Path, shutdown_timeout_s: int
) -> tuple[ServerProcess, str]:
    env = server_env(
        db_url,
        tmp_path / "data",
        WAGATE_API_KEY=ADMIN_KEY,
        WAGATE_SHUTDOWN_TIMEOUT_S=str(shutdown_timeout_s),
        WAGATE_PACING="instant",
    )
    server = ServerProcess(env, tmp_path / "server.log")
    server.start()
    await server.wait_ready()
    auth = {"authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=10) as api:
        sid = (await api.post("/v1/sessions", json={"name": "demo"})).json()["id"]

        async def waiting_for_scan() -> bool:
            return (await api.get(f"/v1/sessions/{sid}")).json()["status"] == "qr"

        await until(waiting_for_scan)
        await api.post(f"/v1/simulator/{sid}/scan")

        async def connected() -> bool:
            return (await api.get(f"/v1/sessions/{sid}")).json()["status"] == "connected"

        await until(connected)
        first = await api.post(  # the number is checked before its first send: not slowed
            f"/v1/sessions/{sid}/messages", json={"to": "5511988887777", "text": "first"}
        )

        async def first_sent() -> bool:
            body = (await api.get(f"/v1/messages/{first.json()['id']}")).json()
            return body["status"] in ("sent", "delivered", "read")

        await until(first_sent)
        await api.post(f"/v1/simulator/{sid}/faults/slow", json={"latency_ms": 60_000})
        sent = await api.post(
            f"/v1/sessions/{sid}/messages", json={"to": "5511988887777", "text": "slow"}
        )
        message_id = sent.json()["id"]

        async def in_flight() -> bool:
            body = (await api.get(f"/v1/messages/{message_id}")).json()
            return body["status"] == "sending"

        await until(in_flight)
    return server, message_id


async def test_a_second_sigterm_exits_at_once(db_url: str, tmp_path: Path) -> None:
    server, _ = await _server_with_a_send_in_flight(db_url, tmp_path, shutdown_timeout_s=60)
    process = server.process
    assert process is not None
    try:
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(1.0)
        assert process.poll() is None, "the first SIGTERM waits for the send in flight"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 10)
        assert time.monotonic() - started < 5
        assert code == 128 + signal.SIGTERM
        assert "second stop signal" in server.log.read_text()
    finally:
        if process.poll() is None:
            process.kill()


async def test_one_sigterm_waits_for_the_send_up_to_the_timeout(
    db_url: str, tmp_path: Path
) -> None:
    server, message_id = await _server_with_a_send_in_flight(db_url, tmp_path, shutdown_timeout_s=2)
    process = server.process
    assert process is not None
    try:
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 30)
        waited = time.monotonic() - started
        assert code in (0, -signal.SIGTERM)
        assert 1.5 <= waited < 20, waited  # it waited for the send, then gave up on it
        log = server.log.read_text()
        assert "wagate stopped" in log
        assert "second stop signal" not in log
    finally:
        if process.poll() is None:
            process.kill()
    # The send it gave up on is resolved on the next start like after a crash.
    restarted = ServerProcess(server.env, server.log)
    restarted.start()
    try:
        await restarted.wait_ready()
        auth = {"authorization": f"Bearer {ADMIN_KEY}"}
        async with httpx.AsyncClient(base_url=restarted.url, headers=auth, timeout=10) as api:
            body = (await api.get(f"/v1/messages/{message_id}")).json()
            assert body["status"] in ("sending", "queued", "sent", "delivered", "read")
    finally:
        restarted.stop()
