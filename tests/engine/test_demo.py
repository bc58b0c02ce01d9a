"""The README's demo, step by step: three quick messages, one batched reply shown typing,
the owner answering from the phone, the bot silent, and resuming after the quiet time."""

from __future__ import annotations

import httpx

from tests.api.helpers import connected_session
from tests.engine.helpers import (
    CHAT,
    CONTACT,
    advance_until,
    chat,
    hold_still,
    owner_says,
    say,
    sent_texts,
)
from tests.support.server import RunningServer, eventually


async def test_readme_demo(server: RunningServer, admin: httpx.AsyncClient) -> None:
    demo = (await connected_session(server, admin, "demo"))["id"]
    await admin.put(f"/v1/sessions/{demo}/settings", json={"pacing": "normal"})  # the default
    # 1. the assistant on, with a 60 s quiet time
    answer = await admin.put(
        f"/v1/sessions/{demo}/assistant",
        json={"enabled": True, "brain": {"kind": "echo"}, "resume_after_s": 60},
    )
    assert answer.status_code == 200, answer.text

    # 2. three quick messages
    ids = [await say(admin, demo, t) for t in ("Hi", "I ordered yesterday", "when?")]

    # 3. one reply for the batch, typing shown first, quoting the last message
    async def replied() -> bool:
        return bool(await sent_texts(server, demo))

    await advance_until(server, replied, limit=40)
    assert await sent_texts(server, demo) == ["echo: Hi / I ordered yesterday / when?"]
    activity = (await admin.get(f"/v1/simulator/{demo}/activity")).json()
    states = [p["state"] for p in activity["presence"] if p["chat_id"] == CHAT]
    assert "composing" in states
    assert any(set(ids) <= set(r["wa_message_ids"]) for r in activity["read"])
    out = (await admin.get(f"/v1/sessions/{demo}/messages?direction=out")).json()["items"]
    assert out[0]["reply_to"] == ids[-1]

    # 4. the owner answers from the phone: paused
    await owner_says(admin, demo, "Hi! It arrives tomorrow.")

    async def paused() -> bool:
        return (await chat(admin, demo))["state"] == "paused"

    await eventually(paused)
    chats = (await admin.get(f"/v1/sessions/{demo}/chats")).json()["items"]
    assert chats[0]["chat_id"] == CHAT
    assert chats[0]["paused_reason"] == "human_reply"

    # 5. the bot stays silent
    await say(admin, demo, "great, thanks")
    await hold_still(server, 30, step=1)
    assert len(await sent_texts(server, demo)) == 1

    # 6. after the quiet time the chat resumes
    async def resumed() -> bool:
        return (await chat(admin, demo))["state"] == "bot"

    await advance_until(server, resumed, step=5, limit=60)
    events = (await admin.get("/v1/events?type=conversation.resumed")).json()["items"]
    assert [e["data"]["reason"] for e in events] == ["quiet_time"]
    timeline = (await admin.get(f"/v1/sessions/{demo}/chats/{CONTACT}/timeline")).json()["items"]
    kinds = [i["step"] for i in timeline if i["kind"] == "step"]
    assert kinds.index("batched") < kinds.index("brain") < kinds.index("replied")
    assert kinds.index("replied") < kinds.index("paused") < kinds.index("resumed")
