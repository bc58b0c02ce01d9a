"""Which chats the bot answers: allow and ignore lists, groups, disabled assistants."""

from __future__ import annotations

import httpx

from tests.engine.helpers import (
    CONTACT,
    advance_until,
    assistant_session,
    chat,
    hold_still,
    say,
    sent_texts,
)
from tests.support.server import RunningServer, eventually

OTHER = "5511966665555"


async def _write(
    client: httpx.AsyncClient, sid: str, sender: str, text: str, **extra: object
) -> None:
    body = {"from": sender, "text": text, **extra}
    response = await client.post(f"/v1/simulator/{sid}/inbound", json=body)
    assert response.status_code == 202, response.text


async def test_ignore_list_turns_the_chat_off(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await assistant_session(server, admin, ignore=[f"+{CONTACT}"])
    await say(admin, sid, "hello")
    await _write(admin, sid, OTHER, "hello too")

    async def answered() -> bool:
        return len(server.network.sent(sid)) == 1

    await advance_until(server, answered)
    await hold_still(server, 5)
    [sent] = server.network.sent(sid)
    assert sent.to.startswith(OTHER)
    assert (await chat(admin, sid))["state"] == "off"
    chats = (await admin.get(f"/v1/sessions/{sid}/chats?state=off")).json()["items"]
    assert [c["chat_id"] for c in chats] == [f"{CONTACT}@s.whatsapp.net"]


async def test_allow_list_answers_only_those(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await assistant_session(server, admin, allow=[f"{OTHER}@s.whatsapp.net"])
    await say(admin, sid, "hello")
    await _write(admin, sid, OTHER, "hi there")

    async def answered() -> bool:
        return len(server.network.sent(sid)) == 1

    await advance_until(server, answered)
    await hold_still(server, 5)
    assert [s.to.split("@")[0] for s in server.network.sent(sid)] == [OTHER]


async def test_groups_are_ignored_unless_enabled(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await assistant_session(server, admin)
    await _write(admin, sid, CONTACT, "hi group", group="120363000000000001")
    await hold_still(server, 10)
    assert server.network.sent(sid) == []
    chats = (await admin.get(f"/v1/sessions/{sid}/chats")).json()["items"]
    assert chats == []

    body = {"enabled": True, "brain": {"kind": "echo"}, "groups": True}
    assert (await admin.put(f"/v1/sessions/{sid}/assistant", json=body)).status_code == 200
    await _write(admin, sid, CONTACT, "hi again", group="120363000000000001")

    async def answered() -> bool:
        return len(server.network.sent(sid)) == 1

    await advance_until(server, answered)
    assert server.network.sent(sid)[0].to == "120363000000000001@g.us"


async def test_disabled_assistant_stays_silent(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await assistant_session(server, admin, enabled=False)
    await say(admin, sid, "hello")

    async def tracked() -> bool:
        return (await chat(admin, sid))["last_message_at"] is not None

    await eventually(tracked)
    await hold_still(server, 10)
    assert await sent_texts(server, sid) == []
