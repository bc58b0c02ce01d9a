"""The README walk-through, against a real `wagate serve` process, on each database.

A new user starts the server, opens /docs, creates a simulator session with
the admin key, scans its QR code, sends a message, receives one and sees both
in the message list. Then the server is stopped with SIGTERM and started
again: the session comes back connected without a new scan.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import wagate as wagate_package
from tests.support.process import ServerProcess, server_env, until

pytestmark = pytest.mark.slow


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return server_env(
        db_url,
        tmp_path / "data",
        COLUMNS="250",
    )


async def test_readme_walkthrough(env: dict[str, str], tmp_path: Path) -> None:
    server = ServerProcess(env, tmp_path / "server.log")
    server.start()
    try:
        await server.wait_ready()
        key_file = Path(env["WAGATE_DATA_DIR"]) / "admin-key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        admin_key = key_file.read_text().strip()
        assert admin_key in server.log.read_text()  # printed once, on first start

        auth = {"authorization": f"Bearer {admin_key}"}
        async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=10) as api:
            assert (await api.get("/docs")).status_code == 200
            created = await api.post(
                "/v1/sessions", json={"name": "demo", "transport": "simulator"}
            )
            assert created.status_code == 201, created.text
            sid = created.json()["id"]

            async def qr() -> dict[str, str] | None:
                response = await api.get(f"/v1/sessions/{sid}/qr")
                return response.json() if response.status_code == 200 else None

            code = await until(qr)
            assert code["image"].startswith("data:image/png;base64,")

            printed = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "wagate", "sessions", "qr", "demo"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert printed.returncode == 0, printed.stderr
            assert "█" in printed.stdout or "▀" in printed.stdout

            assert (await api.post(f"/v1/simulator/{sid}/scan")).status_code == 202

            async def connected() -> bool:
                return bool((await api.get(f"/v1/sessions/{sid}")).json()["status"] == "connected")

            await until(connected)
            sent = await api.post(
                f"/v1/sessions/{sid}/messages",
                json={"to": "+55 11 98888-7777", "text": "Hello from wagate"},
            )
            assert sent.status_code == 202
            assert sent.json()["status"] == "queued"
            got = await api.post(
                f"/v1/simulator/{sid}/inbound", json={"from": "5511988887777", "text": "Hi back"}
            )
            assert got.status_code == 202

            async def both_listed() -> list[dict[str, str]] | None:
                items = (await api.get(f"/v1/sessions/{sid}/messages")).json()["items"]
                states = {(m["direction"], m["text"], m["status"]) for m in items}
                ok = ("in", "Hi back", "received") in states and any(
                    d == "out" and t == "Hello from wagate" and s in ("sent", "delivered", "read")
                    for d, t, s in states
                )
                return items if ok else None

            await until(both_listed)
        server.stop()

        server.start()  # restore on boot: the session reconnects with its saved login
        await server.wait_ready()
        assert "generated the admin API key" not in server.log.read_text().split("wagate ready")[-1]
        async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=10) as api:
            await until(connected)
            items = (await api.get(f"/v1/sessions/{sid}/messages")).json()["items"]
            assert len(items) == 2
        server.stop()
    finally:
        if server.process and server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def test_cli_keys_and_migrate(env: dict[str, str]) -> None:
    def wagate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "wagate", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    migrated = wagate("migrate")
    assert migrated.returncode == 0, migrated.stderr
    newest = max(
        p.name.split("_", 1)[0]
        for p in (Path(wagate_package.__file__).parent / "store/migrations/versions").glob("0*.py")
    )
    assert f"database is at revision {newest}" in migrated.stdout
    created = wagate("keys", "create", "--tenant", "acme")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("wgk_")
    listed = wagate("keys", "list", "--tenant", "acme")
    assert key[:12] in listed.stdout
    assert key not in listed.stdout
    tenants = wagate("tenants", "list")
    assert "acme" in tenants.stdout
    missing = wagate("sessions", "qr", "nope")
    assert missing.returncode == 1
    assert "not found" in missing.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "wagate", "migrate"],
        env={**env, "WAGATE_PORT": "http"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0
    assert "WAGATE_PORT" in bad.stderr
