"""Helpers for engine tests: an assistant on a connected simulator session, clock steps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.api.helpers import connected_session
from tests.support.server import RunningServer, eventually

CONTACT = "5511977776666"
CHAT = f"{CONTACT}@s.whatsapp.net"


async def assistant_session(
    server: RunningServer, client: httpx.AsyncClient, name: str = "bot", **settings: Any
) -> str:
    """A connected simulator session with its assistant on (echo brain unless told)."""
    session = await connected_session(server, client, name)
    body = {"enabled": True, "brain": {"kind": "echo"}, **settings}
    response = await client.put(f"/v1/sessions/{session['id']}/assistant", json=body)
    assert response.status_code == 200, response.text
    return str(session["id"])


async def say(client: httpx.AsyncClient, session_id: str, text: str, **body: Any) -> str:
    response = await client.post(
        f"/v1/simulator/{session_id}/inbound", json={"from": CONTACT, "text": text, **body}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["wa_message_id"])


async def owner_says(client: httpx.AsyncClient, session_id: str, text: str) -> str:
    response = await client.post(
        f"/v1/simulator/{session_id}/inbound",
        json={"from_me": True, "to": CONTACT, "text": text},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["wa_message_id"])


async def typing(client: httpx.AsyncClient, session_id: str, state: str) -> None:
    response = await client.post(
        f"/v1/simulator/{session_id}/presence", json={"from": CONTACT, "state": state}
    )
    assert response.status_code == 202, response.text


async def sent_texts(server: RunningServer, session_id: str) -> list[str | None]:
    return [item.text for item in server.network.sent(session_id) if item.type == "text"]


async def chat(client: httpx.AsyncClient, session_id: str, chat_id: str = CHAT) -> dict[str, Any]:
    response = await client.get(f"/v1/sessions/{session_id}/chats/{chat_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def steps(client: httpx.AsyncClient, session_id: str, chat_id: str = CHAT) -> list[str]:
    response = await client.get(f"/v1/sessions/{session_id}/chats/{chat_id}/timeline")
    assert response.status_code == 200, response.text
    return [i["step"] for i in response.json()["items"] if i["kind"] == "step"]


async def settle(rounds: int = 30) -> None:
    """Let the engine's database work (real I/O) finish."""
    for _ in range(rounds):
        await asyncio.sleep(0.01)


async def advance_until(
    server: RunningServer,
    check: Callable[[], Awaitable[bool]],
    *,
    step: float = 0.5,
    limit: float = 60.0,
) -> float:
    """Move the clock in steps until ``check`` holds; returns the clock time it took."""
    moved = 0.0
    while True:
        await settle(5)
        if await check():
            return moved
        assert moved < limit, f"not reached after {moved} s of clock time"
        await server.advance(step)
        moved += step


async def caught_up(server: RunningServer) -> None:
    """Wait until the engine has made a whole pass at the clock's time (the log read, the
    timers due fired, ready batches claimed) and answers no batch: what it would do by
    now, it has done. A test that then finds nothing happened knows it, on any machine."""
    engine = server.services.engine
    assert engine is not None
    now = server.clock.now()
    engine.wake()

    async def done() -> bool:
        started = engine.last_pass_started
        if started is None or started < now or engine.answering:
            engine.wake()
            return False
        return True

    await eventually(done, interval=0.005)


async def hold_still(server: RunningServer, seconds: float, step: float = 0.5) -> None:
    """Move the clock forward ``seconds`` in steps, the engine caught up after each."""
    moved = 0.0
    while moved < seconds:
        await server.advance(step)
        moved += step
        await caught_up(server)


async def step_times(
    client: httpx.AsyncClient, session_id: str, kind: str, chat_id: str = CHAT
) -> list[str]:
    """When the engine took steps of one kind in the chat (clock time, ISO)."""
    response = await client.get(f"/v1/sessions/{session_id}/chats/{chat_id}/timeline")
    items = response.json()["items"]
    return [i["at"] for i in items if i["kind"] == "step" and i["step"] == kind]
