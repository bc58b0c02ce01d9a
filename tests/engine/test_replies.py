"""Replies through the delivery queue: the external brain's request, multi-part replies in
order, quoting, voice notes, reactions, fallback on errors and timeouts, history, pacing."""

from __future__ import annotations

import base64
import io
import wave
from typing import Any

import httpx

from tests.engine.conftest import BrainServer
from tests.engine.helpers import (
    CHAT,
    CONTACT,
    advance_until,
    assistant_session,
    hold_still,
    say,
    sent_texts,
    steps,
)
from tests.support.server import RunningServer, eventually


def _webhook(brain: BrainServer, **extra: Any) -> dict[str, Any]:
    return {"brain": {"kind": "webhook", "url": brain.url, **extra}}


async def _outbound(client: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    page = (await client.get(f"/v1/sessions/{sid}/messages?direction=out")).json()
    return list(reversed(page["items"]))


async def _sent_count(server: RunningServer, sid: str, n: int) -> bool:
    return len(server.network.sent(sid)) >= n


async def test_request_format_multi_part_order_and_quote(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(server, admin, "acme", **_webhook(brain))
    brain.answer = {"output": ["first", "second", "third"]}
    await say(admin, sid, "hi", push_name="Bia")
    last = await say(admin, sid, "what are your hours?")
    await advance_until(server, lambda: _sent_count(server, sid, 3))
    assert await sent_texts(server, sid) == ["first", "second", "third"]

    [request] = brain.requests
    assert request["phone"] == f"+{CONTACT}"
    assert request["type"] == "text"
    assert request["message"] == "hi\nwhat are your hours?"
    assert request["has_media"] is False
    assert request["media_count"] == 0
    assert request["media_list"] == []
    assert request["message_id"] == last
    assert request["timestamp"] == "2026-01-05T12:00:00Z"
    assert request["bot_name"] == "acme"
    assert request["push_name"] == "Bia"
    assert [m["text"] for m in request["messages"]] == ["hi", "what are your hours?"]

    out = await _outbound(admin, sid)
    assert [m["reply_to"] for m in out] == [last, None, None]  # the batch held several


async def test_single_message_is_not_quoted_and_history_is_sent(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(server, admin, **_webhook(brain))
    brain.answer = {"reply": "hello there"}
    await say(admin, sid, "hi")
    await advance_until(server, lambda: _sent_count(server, sid, 1))
    brain.answer = {"reply": "we open at 9"}
    await say(admin, sid, "when do you open?")
    await advance_until(server, lambda: _sent_count(server, sid, 2))
    assert [m["reply_to"] for m in await _outbound(admin, sid)] == [None, None]
    assert brain.requests[1]["history"] == [
        {"role": "user", "text": "hi"},
        {"role": "assistant", "text": "hello there"},
    ]


def _wav(seconds: float = 0.3) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * int(8000 * seconds))
    return buffer.getvalue()


async def test_audio_base64_is_sent_as_an_ogg_opus_voice_note(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(server, admin, **_webhook(brain))
    encoded = base64.b64encode(_wav()).decode()
    brain.answer = {
        "type": "audio",
        "audio_base64": f"data:audio/wav;base64,{encoded}",
        "output": "Audio response sent",
    }
    await say(admin, sid, "send me a voice note")
    await advance_until(server, lambda: _sent_count(server, sid, 1))
    [voice] = await _outbound(admin, sid)
    assert voice["type"] == "voice"
    assert voice["media"]["mime_type"] == "audio/ogg; codecs=opus"
    data = (await admin.get(voice["media"]["url"])).content
    assert data[:4] == b"OggS"
    assert b"OpusHead" in data[:100]
    assert await sent_texts(server, sid) == []  # the `output` status line is not sent


async def test_audio_url_is_fetched_and_converted(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(server, admin, **_webhook(brain))
    brain.files["reply.wav"] = _wav()
    brain.answer = {"audioUrl": f"{brain.base}/files/reply.wav"}
    await say(admin, sid, "voice please")
    await advance_until(server, lambda: _sent_count(server, sid, 1))
    [voice] = await _outbound(admin, sid)
    assert voice["type"] == "voice"
    assert voice["media"]["mime_type"] == "audio/ogg; codecs=opus"


async def test_brain_error_sends_the_fallback_and_the_engine_goes_on(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(
        server, admin, **_webhook(brain), fallback_reply="Sorry, one moment please."
    )
    brain.status = 500
    await say(admin, sid, "hello?")
    await advance_until(server, lambda: _sent_count(server, sid, 1))
    assert await sent_texts(server, sid) == ["Sorry, one moment please."]
    assert "brain_error" in await steps(admin, sid)

    brain.status = 200
    brain.answer = {"output": "back to normal"}
    await say(admin, sid, "and now?")
    await advance_until(server, lambda: _sent_count(server, sid, 2))
    assert (await sent_texts(server, sid))[-1] == "back to normal"


async def test_brain_timeout_without_fallback_is_silence(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(server, admin, **_webhook(brain, timeout_s=0.2))
    brain.delay_s = 1.0

    async def failed() -> bool:
        return "brain_error" in await steps(admin, sid)

    await say(admin, sid, "anyone?")
    await advance_until(server, failed)
    timeline = (await admin.get(f"/v1/sessions/{sid}/chats/{CHAT}/timeline")).json()["items"]
    [error] = [i for i in timeline if i.get("step") == "brain_error"]
    assert "did not answer within 0.2 s" in error["data"]["error"]
    assert error["data"]["fallback"] is False
    await eventually(lambda: _has_step(admin, sid, "silent"))
    await hold_still(server, 5)
    assert server.network.sent(sid) == []


async def _has_step(client: httpx.AsyncClient, sid: str, kind: str) -> bool:
    return kind in await steps(client, sid)


async def test_reaction_with_probability_one(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(
        server, admin, **_webhook(brain), reactions={"probability": 1, "emojis": ["👍"]}
    )
    inbound = await say(admin, sid, "thanks a lot")
    await advance_until(server, lambda: _sent_count(server, sid, 2))
    out = await _outbound(admin, sid)
    assert [m["type"] for m in out] == ["reaction", "text"]
    assert out[0]["reaction"] == {"message_id": inbound, "emoji": "👍"}


async def test_pacing_reads_then_types_before_the_reply(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(server, admin, **_webhook(brain))
    answer = await admin.put(f"/v1/sessions/{sid}/settings", json={"pacing": "normal"})
    assert answer.status_code == 200, answer.text
    brain.answer = {"output": "a reply long enough to need some typing time"}
    inbound = await say(admin, sid, "hello, can you help me with my order?")
    await advance_until(server, lambda: _sent_count(server, sid, 1), step=0.5)
    activity = (await admin.get(f"/v1/simulator/{sid}/activity")).json()
    states = [p["state"] for p in activity["presence"] if p["chat_id"] == CHAT]
    assert "composing" in states
    assert states[-1] == "paused"
    assert any(inbound in r["wa_message_ids"] for r in activity["read"])
    batched = (await _step_at(admin, sid, "batched"))[0]
    replied = (await _step_at(admin, sid, "replied"))[0]
    assert replied > batched  # the reading time (0.5 s + length / 25 cps) passed first


async def _step_at(client: httpx.AsyncClient, sid: str, kind: str) -> list[str]:
    items = (await client.get(f"/v1/sessions/{sid}/chats/{CHAT}/timeline")).json()["items"]
    return [i["at"] for i in items if i.get("step") == kind]


async def test_instant_assistant_pacing_skips_typing(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(server, admin, **_webhook(brain), pacing="instant")
    answer = await admin.put(f"/v1/sessions/{sid}/settings", json={"pacing": "slow"})
    assert answer.status_code == 200, answer.text
    await say(admin, sid, "quick question")

    async def sent() -> bool:
        return len(server.network.sent(sid)) == 1

    took = await advance_until(server, sent, step=0.25)
    assert took <= 6  # the 4 s window, then no reading or typing (slow pacing: 8 s or more)
    activity = (await admin.get(f"/v1/simulator/{sid}/activity")).json()
    assert [p for p in activity["presence"] if p["chat_id"] == CHAT] == []
    [out] = await _outbound(admin, sid)
    assert out["text"] == "ok"


async def test_an_opt_out_is_not_answered(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(server, admin, **_webhook(brain))
    await say(admin, sid, "STOP")
    await advance_until(server, lambda: _has_step(admin, sid, "skipped"))
    await hold_still(server, 5)
    assert brain.requests == []
    assert server.network.sent(sid) == []


async def test_the_webhook_brain_gets_its_sealed_headers(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(
        server, admin, **_webhook(brain, headers={"X-Brain-Token": "t0ken-for-n8n"})
    )
    await say(admin, sid, "hi")
    await advance_until(server, lambda: _sent_count(server, sid, 1))
    assert brain.headers[0]["x-brain-token"] == "t0ken-for-n8n"
    assert brain.headers[0]["content-type"] == "application/json"


async def test_the_brain_gets_media_as_a_signed_link_it_opens_without_a_key(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(server, admin, **_webhook(brain))
    brain.answer = {"reply": "nice picture"}
    picture = bytes(range(256)) * 8
    await say(
        admin,
        sid,
        "",
        type="image",
        media={"base64": base64.b64encode(picture).decode(), "mime_type": "image/jpeg"},
    )
    await advance_until(server, lambda: _sent_count(server, sid, 1))
    [request] = brain.requests
    assert request["has_media"] is True
    url = request["media_list"][0]["url"]
    assert url.startswith("/v1/media/")
    assert "sig=" in url
    assert "expires=" in url
    async with httpx.AsyncClient(base_url=server.base_url) as anyone:  # no key
        opened = await anyone.get(url)
    assert opened.status_code == 200
    assert opened.content == picture
