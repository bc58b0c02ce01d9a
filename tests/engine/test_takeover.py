"""Human takeover: the owner's reply from the phone pauses a chat; quiet time resumes it;
pause and resume by hand; a hand-off keyword asks for a human."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import connected_session
from tests.engine.helpers import (
    CHAT,
    advance_until,
    assistant_session,
    caught_up,
    chat,
    hold_still,
    owner_says,
    say,
    sent_texts,
    steps,
)
from tests.support.server import RunningServer, eventually


async def _events(client: httpx.AsyncClient, type: str) -> list[dict[str, Any]]:
    return list((await client.get(f"/v1/events?type={type}")).json()["items"])


async def test_owner_reply_pauses_then_quiet_time_resumes(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await assistant_session(server, admin, resume_after_s=600)
    await owner_says(admin, sid, "I'll take this one")

    async def paused() -> bool:
        return (await chat(admin, sid))["state"] == "paused"

    await eventually(paused)
    state = await chat(admin, sid)
    assert state["paused_reason"] == "human_reply"
    assert state["resume_at"] == "2026-01-05T12:10:00Z"
    [event] = await _events(admin, "conversation.paused")
    assert event["data"] == {
        "chat_id": CHAT,
        "reason": "human_reply",
        "resume_at": "2026-01-05T12:10:00Z",
        "message_id": event["data"]["message_id"],
    }

    # the contact writes; the bot stays silent while the human is in charge
    await say(admin, sid, "thanks!")
    await hold_still(server, 10)
    assert await sent_texts(server, sid) == []

    # the quiet time passes: the chat is the bot's again, by the durable timer
    async def resumed() -> bool:
        return (await chat(admin, sid))["state"] == "bot"

    await advance_until(server, resumed, step=60, limit=700)
    [event] = await _events(admin, "conversation.resumed")
    assert event["data"] == {"chat_id": CHAT, "reason": "quiet_time"}

    await say(admin, sid, "still there?")

    async def answered() -> bool:
        return bool(await sent_texts(server, sid))

    await advance_until(server, answered)
    assert await sent_texts(server, sid) == ["echo: still there?"]
    assert "paused" in await steps(admin, sid)
    assert "resumed" in await steps(admin, sid)


async def test_each_human_reply_pushes_the_resume_back(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await assistant_session(server, admin, resume_after_s=100)
    await owner_says(admin, sid, "hello")
    await eventually(lambda: _state_is(admin, sid, "paused"))
    await hold_still(server, 60, step=20)
    await owner_says(admin, sid, "anything else?")

    async def pushed() -> bool:
        return (await chat(admin, sid))["resume_at"] == "2026-01-05T12:02:40Z"

    await eventually(pushed)
    await hold_still(server, 60, step=20)  # 120 s after the first reply: still paused
    assert (await chat(admin, sid))["state"] == "paused"
    assert len(await _events(admin, "conversation.paused")) == 1


async def _state_is(client: httpx.AsyncClient, sid: str, state: str) -> bool:
    return (await chat(client, sid))["state"] == state


async def test_owner_reply_drops_the_buffered_batch(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    """The contact wrote; before the window closed the owner answered from the phone."""
    sid = await assistant_session(server, admin)
    await say(admin, sid, "hi, is anyone there?")
    await eventually(lambda: _pending(admin, sid, 1))
    await owner_says(admin, sid, "yes, me!")
    await eventually(lambda: _state_is(admin, sid, "paused"))
    await hold_still(server, 40, step=2)
    assert await sent_texts(server, sid) == []
    assert (await chat(admin, sid))["pending"] == 0


async def _pending(client: httpx.AsyncClient, sid: str, n: int) -> bool:
    return (await chat(client, sid))["pending"] == n


async def test_pause_state_exists_before_the_bot_spoke(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    """Engine off: the owner answers a chat; turning the engine on later keeps it paused."""
    session = await connected_session(server, admin, "later")
    sid = session["id"]
    await owner_says(admin, sid, "hi from the phone")
    await eventually(lambda: _state_is(admin, sid, "paused"))
    chats = (await admin.get(f"/v1/sessions/{sid}/chats")).json()["items"]
    assert [(c["chat_id"], c["state"], c["paused_reason"]) for c in chats] == [
        (CHAT, "paused", "human_reply")
    ]
    body = {"enabled": True, "brain": {"kind": "echo"}}
    assert (await admin.put(f"/v1/sessions/{sid}/assistant", json=body)).status_code == 200
    await say(admin, sid, "hello?")
    await hold_still(server, 10)
    assert await sent_texts(server, sid) == []


async def test_manual_pause_and_resume(server: RunningServer, admin: httpx.AsyncClient) -> None:
    sid = await assistant_session(server, admin)
    answer = await admin.post(f"/v1/sessions/{sid}/chats/5511977776666/pause")
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "paused"
    assert answer.json()["paused_reason"] == "manual"
    assert answer.json()["resume_at"] is None
    # pausing twice is harmless
    again = await admin.post(f"/v1/sessions/{sid}/chats/{CHAT}/pause")
    assert again.json()["state"] == "paused"
    await say(admin, sid, "hello")
    await hold_still(server, 3000, step=500)  # no timer resumes a manual pause
    assert await sent_texts(server, sid) == []

    answer = await admin.post(f"/v1/sessions/{sid}/chats/{CHAT}/resume")
    assert answer.status_code == 200
    assert answer.json()["state"] == "bot"
    resumed = await _events(admin, "conversation.resumed")
    assert [e["data"]["reason"] for e in resumed] == ["manual"]
    await say(admin, sid, "hello again")

    async def answered() -> bool:
        return bool(await sent_texts(server, sid))

    await advance_until(server, answered)
    assert await sent_texts(server, sid) == ["echo: hello again"]  # not the one sent while paused
    assert len(await _events(admin, "conversation.paused")) == 1


async def test_handoff_keyword_pauses_and_asks_for_a_human(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await assistant_session(server, admin)
    await say(admin, sid, "quero falar com um ATENDENTE por favor")
    await eventually(lambda: _state_is(admin, sid, "paused"))
    assert (await chat(admin, sid))["paused_reason"] == "handoff"
    [asked] = await _events(admin, "conversation.handoff_requested")
    assert asked["data"]["keyword"] == "atendente"
    [paused] = await _events(admin, "conversation.paused")
    assert paused["data"]["reason"] == "handoff"
    await hold_still(server, 10)
    assert await sent_texts(server, sid) == []


async def test_keywords_match_whole_words_only(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await assistant_session(server, admin)
    await say(admin, sid, "humanity is great")

    async def answered() -> bool:
        return bool(await sent_texts(server, sid))

    await advance_until(server, answered)
    assert (await chat(admin, sid))["state"] == "bot"
    await caught_up(server)
