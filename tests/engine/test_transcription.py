"""Hearing voice notes: with transcription on, the assistant transcribes an inbound voice
note (through an OpenAI-compatible transcription API, a fake one on loopback) before the
brain sees it; the message keeps the transcript and the timeline shows it. Off by default."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.engine.helpers import CONTACT, advance_until, assistant_session
from tests.support.fake_llm import FakeLLM, fake_openai
from tests.support.server import RunningServer

VOICE = b"OggS\x00\x02" + bytes(range(200))


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    async with fake_openai() as server:
        yield server


def _brain(llm: FakeLLM) -> dict[str, Any]:
    return {"kind": "openai", "model": "gpt-test", "base_url": llm.base_url, "api_key": "sk-b"}


async def _voice_note(server: RunningServer, admin: httpx.AsyncClient, sid: str) -> str:
    """The contact sends a voice note; waits for the assistant's answer; its message id."""
    answer = await admin.post(
        f"/v1/simulator/{sid}/inbound",
        json={
            "from": CONTACT,
            "type": "voice",
            "media": {"base64": base64.b64encode(VOICE).decode()},
        },
    )
    assert answer.status_code == 202, answer.text
    wa_id = answer.json()["wa_message_id"]

    async def answered() -> bool:
        return any(r.type == "text" for r in server.network.sent(sid))

    await advance_until(server, answered)
    page = (await admin.get(f"/v1/sessions/{sid}/messages", params={"direction": "in"})).json()
    [note] = [m for m in page["items"] if m["wa_message_id"] == wa_id]
    return str(note["id"])


async def _timeline(admin: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    answer = await admin.get(f"/v1/sessions/{sid}/chats/{CONTACT}@s.whatsapp.net/timeline")
    return [i for i in answer.json()["items"] if i["kind"] == "step"]


async def test_a_voice_note_is_transcribed_before_the_brain_reads_it(
    server: RunningServer, admin: httpx.AsyncClient, llm: FakeLLM
) -> None:
    hearing = {
        "enabled": True,
        "base_url": llm.base_url,
        "api_key": "sk-whisper",
        "language": "pt",
    }
    sid = await assistant_session(server, admin, brain=_brain(llm), transcription=hearing)
    shown = (await admin.get(f"/v1/sessions/{sid}/assistant")).json()["transcription"]
    assert shown["api_key_set"] is True
    assert "api_key" not in shown

    note_id = await _voice_note(server, admin, sid)
    [heard] = llm.transcriptions
    assert heard["data"] == VOICE
    assert (heard["model"], heard["language"]) == ("whisper-1", "pt")
    assert heard["authorization"] == "Bearer sk-whisper"
    assert llm.requests[-1]["messages"][-1] == {
        "role": "user",
        "content": "I would like two pairs in size 40",
    }
    note = (await admin.get(f"/v1/messages/{note_id}")).json()
    assert note["transcript"] == "I would like two pairs in size 40"
    [step] = [s for s in await _timeline(admin, sid) if s["step"] == "transcribed"]
    assert step["data"]["message_id"] == note_id
    assert step["data"]["text"] == "I would like two pairs in size 40"
    updates = await admin.get("/v1/events", params={"type": "message.updated", "session_id": sid})
    [update] = updates.json()["items"]
    assert update["data"]["change"] == "transcribed"
    assert update["data"]["transcript"] == "I would like two pairs in size 40"


async def test_transcription_is_off_by_default(
    server: RunningServer, admin: httpx.AsyncClient, llm: FakeLLM
) -> None:
    sid = await assistant_session(server, admin, brain=_brain(llm))
    note_id = await _voice_note(server, admin, sid)
    assert llm.transcriptions == []
    assert llm.requests[-1]["messages"][-1] == {"role": "user", "content": "[voice]"}
    assert (await admin.get(f"/v1/messages/{note_id}")).json()["transcript"] is None


async def test_a_failed_transcription_is_a_step_and_the_brain_still_answers(
    server: RunningServer, admin: httpx.AsyncClient, llm: FakeLLM
) -> None:
    llm.transcription_status = 503
    hearing = {"enabled": True, "base_url": llm.base_url}
    sid = await assistant_session(server, admin, brain=_brain(llm), transcription=hearing)
    note_id = await _voice_note(server, admin, sid)
    assert llm.requests[-1]["messages"][-1] == {"role": "user", "content": "[voice]"}
    [step] = [s for s in await _timeline(admin, sid) if s["step"] == "transcription_failed"]
    assert step["data"]["message_id"] == note_id
    assert "503" in step["data"]["error"]
