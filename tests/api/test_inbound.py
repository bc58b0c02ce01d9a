"""Every inbound type of the contract, normalized and stored once, with its events."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.api.helpers import connected_session, find_inbound, inbound
from tests.support.server import RunningServer, eventually

CONTACT = "5511977776666"

CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"text": "hello"}, {"type": "text", "text": "hello"}),
    (
        {"type": "image", "media": {"mime_type": "image/jpeg", "caption": "look", "size": 300}},
        {"type": "image", "text": "look"},
    ),
    ({"type": "video", "media": {"mime_type": "video/mp4", "size": 100}}, {"type": "video"}),
    (
        {
            "type": "document",
            "media": {"mime_type": "application/pdf", "file_name": "a.pdf", "size": 10},
        },
        {"type": "document"},
    ),
    ({"type": "sticker", "media": {"mime_type": "image/webp", "size": 10}}, {"type": "sticker"}),
    ({"type": "voice", "media": {"size": 50}}, {"type": "voice"}),
    ({"type": "audio", "media": {"mime_type": "audio/mpeg", "size": 50}}, {"type": "audio"}),
    (
        {"type": "location", "location": {"latitude": 1.5, "longitude": 2.5, "name": "here"}},
        {
            "type": "location",
            "location": {"latitude": 1.5, "longitude": 2.5, "name": "here", "address": None},
        },
    ),
    (
        {"type": "contacts", "contacts": [{"name": "Ana", "phone": "5511900001111"}]},
        {"type": "contacts", "contacts": [{"name": "Ana", "phone": "5511900001111"}]},
    ),
]


@pytest.mark.parametrize(("payload", "expected"), CASES, ids=[c[1]["type"] for c in CASES])
async def test_inbound_types_are_normalized(
    server: RunningServer,
    admin: httpx.AsyncClient,
    payload: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    session = await connected_session(server, admin)
    wa_id = await inbound(admin, session["id"], **{"from": CONTACT, "push_name": "Bia", **payload})
    message = await find_inbound(admin, session["id"], wa_id)
    assert message["chat_id"] == f"{CONTACT}@s.whatsapp.net"
    assert message["chat_type"] == "direct"
    assert message["sender"] == f"{CONTACT}@s.whatsapp.net"
    assert message["sender_phone"] == CONTACT
    assert message["push_name"] == "Bia"
    assert message["from_me"] is False
    assert message["status"] == "received"
    assert message["timestamp"] == server.clock.now().isoformat().replace("+00:00", "Z")
    for key, value in expected.items():
        assert message[key] == value, key
    if "media" in payload:
        media = message["media"]
        assert media["size"] == payload["media"]["size"]
        assert media["voice"] is (expected["type"] == "voice")
        download = await admin.get(media["url"])
        assert download.status_code == 200
        assert len(download.content) == payload["media"]["size"]
    received = (await admin.get("/v1/events?type=message.received")).json()["items"]
    assert [e["data"]["wa_message_id"] for e in received] == [wa_id]


async def test_media_with_given_bytes(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    data = b"exact bytes"
    wa_id = await inbound(
        admin,
        session["id"],
        **{
            "from": CONTACT,
            "type": "image",
            "media": {"mime_type": "image/png", "base64": base64.b64encode(data).decode()},
        },
    )
    message = await find_inbound(admin, session["id"], wa_id)
    assert (await admin.get(message["media"]["url"])).content == data


async def test_duplicate_inbound_is_stored_once(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    body = {"from": CONTACT, "text": "once", "id": "3AFIXEDID0001"}
    await inbound(admin, session["id"], **body)
    await inbound(admin, session["id"], **body)
    await find_inbound(admin, session["id"], "3AFIXEDID0001")
    page = (await admin.get(f"/v1/sessions/{session['id']}/messages")).json()["items"]
    assert [m["wa_message_id"] for m in page] == ["3AFIXEDID0001"]


async def test_group_reply_reaction_edit_revoke(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    group = "120363000000000001"
    first = await inbound(admin, sid, **{"from": CONTACT, "group": group, "text": "in a group"})
    message = await find_inbound(admin, sid, first)
    assert message["chat_id"] == f"{group}@g.us"
    assert message["chat_type"] == "group"
    assert message["sender"] == f"{CONTACT}@s.whatsapp.net"

    reply = await inbound(admin, sid, **{"from": CONTACT, "text": "re", "reply_to": first})
    assert (await find_inbound(admin, sid, reply))["reply_to"] == first

    reaction = await inbound(
        admin,
        sid,
        **{"from": CONTACT, "type": "reaction", "reaction": {"message_id": first, "emoji": "❤"}},
    )
    stored = await find_inbound(admin, sid, reaction)
    assert stored["type"] == "reaction"
    assert stored["reaction"] == {"message_id": first, "emoji": "❤"}
    removal = await inbound(
        admin,
        sid,
        **{"from": CONTACT, "type": "reaction", "reaction": {"message_id": first, "emoji": ""}},
    )
    assert (await find_inbound(admin, sid, removal))["reaction"]["emoji"] is None

    await inbound(
        admin, sid, **{"from": CONTACT, "type": "edit", "message_id": reply, "text": "edited"}
    )

    async def edited() -> bool:
        body = (await admin.get(f"/v1/sessions/{sid}/messages")).json()["items"]
        target = next(m for m in body if m["wa_message_id"] == reply)
        return bool(target["text"] == "edited" and target["edited_at"])

    await eventually(edited)
    await inbound(admin, sid, **{"from": CONTACT, "type": "revoke", "message_id": first})

    async def revoked() -> bool:
        body = (await admin.get(f"/v1/sessions/{sid}/messages")).json()["items"]
        return bool(next(m for m in body if m["wa_message_id"] == first)["revoked_at"])

    await eventually(revoked)
    page = (await admin.get(f"/v1/sessions/{sid}/messages")).json()["items"]
    assert len(page) == 4  # the edit and the revoke updated messages instead of adding any
    updates = (await admin.get("/v1/events?type=message.updated")).json()["items"]
    assert [e["data"]["change"] for e in updates] == ["edited", "revoked"]


async def test_from_me_typed_on_the_phone(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    wa_id = await inbound(
        admin, session["id"], **{"from": CONTACT, "from_me": True, "text": "typed by the owner"}
    )
    message = await find_inbound(admin, session["id"], wa_id)
    assert message["from_me"] is True
    assert message["chat_id"] == f"{CONTACT}@s.whatsapp.net"
    assert message["sender_phone"] == session["phone"]


async def test_lid_identity_is_learned_and_used(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    hidden = await inbound(
        admin,
        sid,
        **{"from": CONTACT, "lid": "123456789012345", "hide_phone": True, "text": "who am i"},
    )
    message = await find_inbound(admin, sid, hidden)
    assert message["chat_id"] == "123456789012345@lid"
    assert message["sender_phone"] is None
    assert message["sender_lid"] == "123456789012345@lid"

    both = await inbound(
        admin, sid, **{"from": CONTACT, "lid": "123456789012345", "text": "now with my number"}
    )
    message = await find_inbound(admin, sid, both)
    assert message["chat_id"] == f"{CONTACT}@s.whatsapp.net"
    assert message["sender_lid"] == "123456789012345@lid"

    queued = (
        await admin.post(
            f"/v1/sessions/{sid}/messages", json={"to": "123456789012345@lid", "text": "hi"}
        )
    ).json()
    assert queued["chat_id"] == f"{CONTACT}@s.whatsapp.net"


async def test_presence_and_calls_become_events(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    assert (
        await admin.post(
            f"/v1/simulator/{sid}/presence", json={"from": CONTACT, "state": "composing"}
        )
    ).status_code == 202
    call = await admin.post(f"/v1/simulator/{sid}/call", json={"from": CONTACT, "video": True})
    assert call.status_code == 202

    async def both() -> list[dict[str, Any]]:
        items = (await admin.get("/v1/events", params={"type": ["presence", "call"]})).json()
        return list(items["items"]) if len(items["items"]) == 2 else []

    presence, call_event = await eventually(both)
    assert presence["data"] == {
        "chat_id": f"{CONTACT}@s.whatsapp.net",
        "participant": f"{CONTACT}@s.whatsapp.net",
        "state": "composing",
    }
    assert call_event["data"]["from_phone"] == CONTACT
    assert call_event["data"]["video"] is True


async def test_messages_sent_while_offline_arrive_on_reconnect(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    await admin.post(f"/v1/sessions/{sid}/stop")
    first = await inbound(admin, sid, **{"from": CONTACT, "text": "one"})
    second = await inbound(admin, sid, **{"from": CONTACT, "text": "two"})
    assert (await admin.get(f"/v1/sessions/{sid}/messages")).json()["items"] == []
    await admin.post(f"/v1/sessions/{sid}/start")
    await find_inbound(admin, sid, second)
    page = (await admin.get(f"/v1/sessions/{sid}/messages")).json()["items"]
    assert [m["wa_message_id"] for m in page] == [second, first]
