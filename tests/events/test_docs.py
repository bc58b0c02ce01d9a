"""The receiver example of docs/webhooks.md verifies a real delivery (and refuses a forgery)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.events.support import create_webhook, deliveries, emit, settle
from tests.support.server import RunningServer, free_port

DOC = Path(__file__).parents[2] / "docs" / "webhooks.md"


def receiver_example() -> str:
    section = DOC.read_text().split("## Verifying a delivery", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python example under 'Verifying a delivery'"
    return match.group(1)


async def test_the_documented_receiver_verifies_a_delivery(
    server: RunningServer,
    admin: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    hook = await create_webhook(admin, f"http://127.0.0.1:{port}/wagate")
    monkeypatch.setenv("WAGATE_WEBHOOK_SECRET", hook["secret"])
    namespace: dict[str, Any] = {"__name__": "docs_receiver"}
    exec(compile(receiver_example(), str(DOC), "exec"), namespace)

    config = uvicorn.Config(
        namespace["app"], host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    receiver = uvicorn.Server(config)
    task = asyncio.create_task(receiver.serve())
    try:
        await settle(lambda: _started(receiver))
        [event_id] = await emit(server, 1)

        async def delivered() -> bool:
            items = await deliveries(admin, hook["id"])
            return bool(items) and items[0]["status"] == "delivered"

        await settle(delivered)
        assert f"{event_id} message.received" in capsys.readouterr().out

        async with httpx.AsyncClient() as client:
            forged = await client.post(
                f"http://127.0.0.1:{port}/wagate",
                content=b'{"type":"message.received"}',
                headers={
                    "webhook-id": event_id,
                    "webhook-timestamp": str(int(server.clock.now().timestamp())),
                    "webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl",
                },
            )
        assert forged.status_code == 400
    finally:
        receiver.should_exit = True
        await asyncio.wait_for(task, 10)


async def _started(server: uvicorn.Server) -> bool:
    return server.started
