"""``GET .../chats/{chat_id}/timeline``: messages and engine steps interleaved in order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.engine.conftest import BrainServer
from tests.engine.helpers import (
    CHAT,
    CONTACT,
    advance_until,
    assistant_session,
    chat,
    hold_still,
    owner_says,
    say,
)
from tests.support.server import RunningServer, eventually


def _label(item: dict[str, Any]) -> str:
    if item["kind"] == "message":
        message = item["message"]
        who = (
            "owner" if message["from_me"] and message["direction"] == "in" else message["direction"]
        )
        return f"{who}:{message['text']}"
    return item["step"]


async def _timeline(client: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/sessions/{sid}/chats/{CONTACT}/timeline")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_conversation_told_in_order(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(
        server, admin, brain={"kind": "webhook", "url": brain.url}, resume_after_s=60
    )
    brain.answer = {"output": "hello! how can I help?"}
    await say(admin, sid, "hi")
    await hold_still(server, 1)
    await say(admin, sid, "anyone there?")

    async def replied() -> bool:
        return "replied" in [_label(i) for i in await _timeline(admin, sid)]

    await advance_until(server, replied)
    await hold_still(server, 1)
    await owner_says(admin, sid, "I'm here, let me help")

    async def paused() -> bool:
        return (await chat(admin, sid))["state"] == "paused"

    await eventually(paused)
    brain.status = 500
    await advance_until(server, lambda: _state(admin, sid, "bot"), step=10, limit=120)
    await hold_still(server, 1)
    await say(admin, sid, "thanks")
    await advance_until(server, lambda: _has(admin, sid, "silent"))

    items = await _timeline(admin, sid)
    assert [_label(i) for i in items] == [
        "in:hi",
        "buffered",
        "in:anyone there?",
        "buffered",
        "batched",
        "brain",
        "out:hello! how can I help?",
        "replied",
        "owner:I'm here, let me help",
        "paused",
        "resumed",
        "in:thanks",
        "buffered",
        "batched",
        "brain_error",
        "silent",
    ]
    steps = {i["step"]: i for i in items if i["kind"] == "step"}
    assert steps["brain"]["data"]["latency_ms"] >= 0
    assert steps["brain"]["data"]["brain"] == "webhook"
    assert steps["paused"]["data"]["reason"] == "human_reply"
    assert steps["resumed"]["data"]["reason"] == "quiet_time"
    assert "HTTP 500" in steps["brain_error"]["data"]["error"]
    paused_at = datetime.fromisoformat(steps["paused"]["at"])
    resumed_at = datetime.fromisoformat(steps["resumed"]["at"])
    assert resumed_at - paused_at == timedelta(seconds=60)  # dated when due
    times = [datetime.fromisoformat(i["at"]) for i in items]
    assert times == sorted(times)
    same = await admin.get(f"/v1/sessions/{sid}/chats/{CHAT}/timeline")
    assert same.json()["items"] == items  # digits or JID name the same chat


async def _state(client: httpx.AsyncClient, sid: str, state: str) -> bool:
    return (await chat(client, sid))["state"] == state


async def _has(client: httpx.AsyncClient, sid: str, step: str) -> bool:
    return step in [_label(i) for i in await _timeline(client, sid)]


async def test_limit_keeps_the_latest(server: RunningServer, admin: httpx.AsyncClient) -> None:
    sid = await assistant_session(server, admin)
    await say(admin, sid, "one")

    async def answered() -> bool:
        return len(server.network.sent(sid)) == 1

    await advance_until(server, answered)
    response = await admin.get(f"/v1/sessions/{sid}/chats/{CONTACT}/timeline?limit=2")
    labels = [_label(i) for i in response.json()["items"]]
    assert labels == ["out:echo: one", "replied"]
