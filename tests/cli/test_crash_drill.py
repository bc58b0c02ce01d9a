"""The crash drill: SIGKILL the server in the middle of a burst; every message arrives once.

A real `wagate serve` process accepts a burst of messages to many chats and is
killed with SIGKILL while it is sending. After a restart, every message that
was acknowledged with 202 must reach the simulated network exactly once: the
WhatsApp id was committed with the message, so a message caught in flight is
transmitted again with the same id and the network keeps one copy (it counts
the repeat in ``transmissions``). The simulated network keeps its ledger in
the data directory, outside the gateway's database, as WhatsApp would.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.process import ServerProcess, server_env, until

pytestmark = pytest.mark.slow

BURST = 600
CHATS = 40
ADMIN = "wga_crash_drill_key_0123456789abcdef"


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return server_env(
        db_url,
        tmp_path / "data",
        WAGATE_API_KEY=ADMIN,
        WAGATE_PACING="instant",
        WAGATE_RATE_PER_MINUTE="100000",
        WAGATE_BURST_SIZE="100000",
        WAGATE_WORKER_ID="drill",
        WAGATE_SIMULATOR_DELIVERY_DELAY_S="3600",
        WAGATE_SIMULATOR_READ_DELAY_S="3600",
    )


async def test_sigkill_mid_burst_loses_and_doubles_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    server = ServerProcess(env, tmp_path / "server.log")
    server.start()
    headers = {"authorization": f"Bearer {ADMIN}"}
    try:
        await server.wait_ready()
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as api:
            sid = (await api.post("/v1/sessions", json={"name": "drill"})).json()["id"]

            async def qr() -> bool:
                return (await api.get(f"/v1/sessions/{sid}/qr")).status_code == 200

            await until(qr)
            await api.post(f"/v1/simulator/{sid}/scan")

            async def connected() -> bool:
                body = (await api.get(f"/v1/sessions/{sid}")).json()
                return bool(body["status"] == "connected")

            await until(connected)

            acknowledged: list[str] = []
            gate = asyncio.Semaphore(16)

            async def post(i: int) -> None:
                async with gate:
                    try:
                        response = await api.post(
                            f"/v1/sessions/{sid}/messages",
                            json={"to": f"55119{i % CHATS:08d}", "text": f"burst {i}"},
                        )
                    except httpx.TransportError:
                        return  # the server died while this request was in flight
                    if response.status_code == 202:
                        acknowledged.append(response.json()["id"])

            async def kill_mid_send() -> None:
                async def sending() -> bool:
                    listed = (await api.get(f"/v1/simulator/{sid}/sent")).json()["items"]
                    return len(listed) >= BURST // 4

                await until(sending, timeout=120)
                server.kill()

            await asyncio.gather(kill_mid_send(), *(post(i) for i in range(BURST)))
        assert BURST // 4 <= len(acknowledged) < BURST, "the kill came too early or too late"

        server.start()
        await server.wait_ready()
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as api:

            async def all_sent() -> list[dict[str, str]] | None:
                page = (
                    await api.get(
                        f"/v1/sessions/{sid}/messages", params={"direction": "out", "limit": 500}
                    )
                ).json()
                items = page["items"]
                cursor = page["next_cursor"]
                while cursor:
                    page = (
                        await api.get(
                            f"/v1/sessions/{sid}/messages",
                            params={"direction": "out", "limit": 500, "cursor": cursor},
                        )
                    ).json()
                    items += page["items"]
                    cursor = page["next_cursor"]
                return items if all(m["status"] == "sent" for m in items) else None

            stored = await until(all_sent, timeout=120)
            network = (await api.get(f"/v1/simulator/{sid}/sent")).json()["items"]
        server.stop()
    finally:
        if server.process and server.process.poll() is None:
            server.process.kill()
            server.process.wait()

    print(
        f"acknowledged {len(acknowledged)}, stored {len(stored)}, retransmitted "
        f"{sum(1 for i in network if i['transmissions'] > 1)}"
    )
    arrivals = Counter(item["message_id"] for item in network)
    assert [m for m, n in arrivals.items() if n > 1] == []  # nothing arrived twice
    stored_ids = {m["id"] for m in stored}
    assert set(acknowledged) <= stored_ids  # nothing acknowledged was lost
    assert set(arrivals) == stored_ids  # and every stored message arrived, once
    by_id = {item["message_id"]: item for item in network}
    assert all(by_id[m["id"]]["wa_message_id"] == m["wa_message_id"] for m in stored)
