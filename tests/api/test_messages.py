"""Sending every outbound type, receiving every inbound type, receipts and the message list."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.api.helpers import connected_session, find_inbound, inbound, send, wait_message
from tests.support.server import RunningServer

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
CONTACT = "5511988887777"

OUTBOUND: list[tuple[str, dict[str, Any]]] = [
    ("text", {"type": "text", "text": "hello"}),
    (
        "image",
        {
            "type": "image",
            "media": {"base64": PNG, "mime_type": "image/png", "caption": "a picture"},
        },
    ),
    ("video", {"type": "video", "media": {"base64": PNG, "mime_type": "video/mp4"}}),
    ("audio", {"type": "audio", "media": {"base64": PNG, "mime_type": "audio/mpeg"}}),
    ("voice", {"type": "voice", "media": {"base64": PNG}}),
    (
        "document",
        {
            "type": "document",
            "media": {"base64": PNG, "file_name": "report.pdf", "mime_type": "application/pdf"},
        },
    ),
    (
        "location",
        {
            "type": "location",
            "location": {"latitude": -23.55, "longitude": -46.63, "name": "Paulista"},
        },
    ),
    ("contact", {"type": "contact", "contact": {"name": "Ana", "phone": "5511977776666"}}),
]


@pytest.mark.parametrize(("kind", "body"), OUTBOUND, ids=[k for k, _ in OUTBOUND])
async def test_every_outbound_type_reaches_the_network(
    server: RunningServer, admin: httpx.AsyncClient, kind: str, body: dict[str, Any]
) -> None:
    session = await connected_session(server, admin)
    queued = await send(admin, session["id"], to=f"+{CONTACT}", **body)
    assert queued["status"] == "queued"
    assert queued["type"] == kind
    assert queued["chat_id"] == f"{CONTACT}@s.whatsapp.net"
    sent = await wait_message(admin, queued["id"], "sent")
    assert sent["wa_message_id"] == queued["wa_message_id"]
    records = server.network.sent(session["id"])
    assert [(r.wa_message_id, r.message_id, r.type, r.transmissions) for r in records] == [
        (queued["wa_message_id"], queued["id"], kind, 1)
    ]
    assert records[0].to == f"{CONTACT}@s.whatsapp.net"


async def test_media_is_stored_and_served(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    queued = await send(
        admin,
        session["id"],
        to=CONTACT,
        type="image",
        media={"base64": PNG, "mime_type": "image/png"},
    )
    assert queued["media"]["size"] == len(base64.b64decode(PNG))
    response = await admin.get(queued["media"]["url"])
    assert response.status_code == 200
    assert response.content == base64.b64decode(PNG)
    assert response.headers["content-type"] == "image/png"


async def test_media_by_url_is_downloaded_when_sent(
    server: RunningServer, admin: httpx.AsyncClient, media_server: str
) -> None:
    session = await connected_session(server, admin)
    queued = await send(
        admin,
        session["id"],
        to=CONTACT,
        type="document",
        media={"url": f"{media_server}/files/report.pdf", "mime_type": "application/pdf"},
    )
    await wait_message(admin, queued["id"], "sent")
    stored = await admin.get(f"/v1/messages/{queued['id']}/media")
    assert stored.content == b"%PDF-1.4 test document"


async def test_unreachable_media_fails_the_message(
    server: RunningServer, admin: httpx.AsyncClient, media_server: str
) -> None:
    session = await connected_session(server, admin)
    queued = await send(
        admin, session["id"], to=CONTACT, type="image", media={"url": f"{media_server}/missing.png"}
    )
    failed = await wait_message(admin, queued["id"], "failed")
    assert failed["error"]["code"] == "media_unreachable"
    assert server.network.sent(session["id"]) == []


async def test_receipts_move_the_status_forward(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    text = await send(admin, session["id"], to=CONTACT, text="hi")
    voice = await send(admin, session["id"], to=CONTACT, type="voice", media={"base64": PNG})
    await wait_message(admin, text["id"], "sent")
    await wait_message(admin, voice["id"], "sent")
    await server.advance(0.5)
    await wait_message(admin, text["id"], "delivered")
    await server.advance(1.5)
    read = await wait_message(admin, text["id"], "read")
    assert read["delivered_at"]
    assert read["read_at"]
    await server.advance(1.0)
    await wait_message(admin, voice["id"], "played")
    events = (await admin.get("/v1/events?type=message.status")).json()["items"]
    statuses = [(e["data"]["message_id"], e["data"]["status"]) for e in events]
    assert (text["id"], "delivered") in statuses
    assert (text["id"], "read") in statuses
    assert (voice["id"], "played") in statuses


async def test_messages_wait_while_the_session_is_offline(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    await admin.post(f"/v1/sessions/{session['id']}/stop")
    queued = await send(admin, session["id"], to=CONTACT, text="later")
    await server.advance(5)
    assert (await admin.get(f"/v1/messages/{queued['id']}")).json()["status"] == "queued"
    await admin.post(f"/v1/sessions/{session['id']}/start")
    await wait_message(admin, queued["id"], "sent")


async def test_order_within_a_chat_is_kept(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    relaxed = {"rate_per_minute": 100, "burst_size": 100}
    assert (await admin.put(f"/v1/sessions/{session['id']}/settings", json=relaxed)).is_success
    ids = [(await send(admin, session["id"], to=CONTACT, text=f"n{i}"))["id"] for i in range(10)]
    await wait_message(admin, ids[-1], "sent")
    assert [r.message_id for r in server.network.sent(session["id"])] == ids


async def test_a_number_without_an_account_fails_with_a_code(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    queued = await send(admin, session["id"], to="09999999999", text="nobody")
    failed = await wait_message(admin, queued["id"], "failed")
    assert failed["error"]["code"] == "not_on_whatsapp"  # the check before the first send
    assert server.network.sent(session["id"]) == []


async def test_reply_and_reaction_point_at_whatsapp_ids(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    wa_id = await inbound(admin, session["id"], **{"from": CONTACT, "text": "question?"})
    original = await find_inbound(admin, session["id"], wa_id)
    reply = await send(admin, session["id"], to=CONTACT, text="answer", reply_to=original["id"])
    assert reply["reply_to"] == wa_id
    reaction = await send(
        admin,
        session["id"],
        to=CONTACT,
        type="reaction",
        reaction={"message_id": wa_id, "emoji": "👍"},
    )
    assert reaction["reaction"] == {"message_id": wa_id, "emoji": "👍"}
    await wait_message(admin, reaction["id"], "sent")
    unknown = await admin.post(
        f"/v1/sessions/{session['id']}/messages",
        json={"to": CONTACT, "text": "x", "reply_to": "msg_doesnotexist"},
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_message"


async def test_idempotency_key_returns_the_original(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    url = f"/v1/sessions/{session['id']}/messages"
    body = {"to": CONTACT, "text": "once"}
    first = await admin.post(url, json=body, headers={"Idempotency-Key": "k-1"})
    again = await admin.post(url, json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    other = await admin.post(
        url, json={**body, "text": "different"}, headers={"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    await wait_message(admin, first.json()["id"], "sent")
    assert len(server.network.sent(session["id"])) == 1


async def test_list_is_newest_first_with_cursor_pagination(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sent_ids = [
        (await send(admin, session["id"], to=CONTACT, text=f"m{i}"))["id"] for i in range(5)
    ]
    wa_id = await inbound(admin, session["id"], **{"from": CONTACT, "text": "in"})
    await find_inbound(admin, session["id"], wa_id)
    url = f"/v1/sessions/{session['id']}/messages"
    page1 = (await admin.get(url, params={"limit": 4})).json()
    page2 = (await admin.get(url, params={"limit": 4, "cursor": page1["next_cursor"]})).json()
    assert page2["next_cursor"] is None
    listed = [m["id"] for m in page1["items"] + page2["items"]]
    assert len(listed) == 6
    assert len(set(listed)) == 6
    assert listed[1:] == list(reversed(sent_ids))
    outbound_only = (await admin.get(url, params={"direction": "out"})).json()["items"]
    assert {m["direction"] for m in outbound_only} == {"out"}
    by_chat = (await admin.get(url, params={"chat_id": f"{CONTACT}@s.whatsapp.net"})).json()
    assert len(by_chat["items"]) == 6
    bad = await admin.get(url, params={"cursor": "abc"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("+55 (11) 98888-7777", "5511988887777@s.whatsapp.net"),
        ("5511988887777@c.us", "5511988887777@s.whatsapp.net"),
        ("120363012345678901@g.us", "120363012345678901@g.us"),
        ("120363012345678901", "120363012345678901@g.us"),
        ("5511988887777-1600000000", "5511988887777-1600000000@g.us"),
    ],
)
async def test_destinations_are_normalized(
    server: RunningServer, admin: httpx.AsyncClient, to: str, expected: str
) -> None:
    session = await connected_session(server, admin)
    queued = await send(admin, session["id"], to=to, text="x")
    assert queued["chat_id"] == expected
    assert queued["chat_type"] == ("group" if expected.endswith("@g.us") else "direct")


async def test_presence_and_read_receipts_from_the_gateway(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    wa_id = await inbound(admin, sid, **{"from": CONTACT, "text": "are you there?"})
    stored = await find_inbound(admin, sid, wa_id)
    typing = await admin.post(
        f"/v1/sessions/{sid}/presence", json={"chat_id": CONTACT, "state": "composing"}
    )
    assert typing.status_code == 202
    read = await admin.post(
        f"/v1/sessions/{sid}/read", json={"chat_id": CONTACT, "message_ids": [stored["id"]]}
    )
    assert read.status_code == 202
    assert read.json()["message_ids"] == [wa_id]
    activity = (await admin.get(f"/v1/simulator/{sid}/activity")).json()
    assert [(p["chat_id"], p["state"]) for p in activity["presence"]] == [
        (f"{CONTACT}@s.whatsapp.net", "composing")
    ]
    assert [r["wa_message_ids"] for r in activity["read"]] == [[wa_id]]
    await admin.post(f"/v1/sessions/{sid}/stop")
    offline = await admin.post(
        f"/v1/sessions/{sid}/presence", json={"chat_id": CONTACT, "state": "paused"}
    )
    assert offline.status_code == 409
    assert offline.json()["error"]["code"] == "session_not_connected"
