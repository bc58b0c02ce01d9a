"""Editing and deleting for everyone a message the session sent (``PATCH`` / ``DELETE
/v1/messages/{id}``), on the simulator and both databases. The contract suite runs the
same round trip on every transport; this file covers the rules: WhatsApp's windows,
what can be changed, and a change that waits in the queue."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import (
    connected_session,
    create_session,
    find_inbound,
    inbound,
    send,
    wait_message,
    wait_sent,
    wait_status,
)
from tests.support.server import RunningServer

TO = "5511988887777"


async def _edit(admin: httpx.AsyncClient, message_id: str, text: str) -> httpx.Response:
    return await admin.patch(f"/v1/messages/{message_id}", json={"text": text})


def _refused(answer: httpx.Response, code: str) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == code, answer.text


async def _updates(admin: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    page = await admin.get("/v1/events", params={"type": "message.updated", "session_id": sid})
    return [e["data"] for e in page.json()["items"]]


async def test_an_edit_reaches_the_network_and_changes_the_message(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    original = await send(admin, sid, to=TO, text="the meeting is at 10")
    wa_id = (await wait_sent(admin, original["id"]))["wa_message_id"]

    answer = await _edit(admin, original["id"], "the meeting is at 11")
    assert answer.status_code == 202, answer.text
    change = answer.json()
    assert change["type"] == "edit"
    assert change["target_id"] == original["id"]
    assert change["status"] == "queued"
    await wait_sent(admin, change["id"])

    edited = (await admin.get(f"/v1/messages/{original['id']}")).json()
    assert edited["text"] == "the meeting is at 11"
    assert edited["edited"] is True
    assert edited["edited_at"] is not None
    assert edited["revoked"] is False
    reached = [r for r in server.network.sent(sid) if r.type == "edit"]
    assert [(r.target, r.text, r.to) for r in reached] == [
        (wa_id, "the meeting is at 11", f"{TO}@s.whatsapp.net")
    ]
    [update] = await _updates(admin, sid)
    assert update["change"] == "edited"
    assert update["id"] == original["id"]
    assert update["text"] == "the meeting is at 11"


async def test_a_revoke_deletes_the_message_for_everyone(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    original = await send(admin, sid, to=TO, text="wrong chat, sorry")
    wa_id = (await wait_sent(admin, original["id"]))["wa_message_id"]

    answer = await admin.delete(f"/v1/messages/{original['id']}")
    assert answer.status_code == 202, answer.text
    assert answer.json()["type"] == "revoke"
    await wait_sent(admin, answer.json()["id"])

    revoked = (await admin.get(f"/v1/messages/{original['id']}")).json()
    assert revoked["revoked"] is True
    assert revoked["revoked_at"] is not None
    assert [(r.type, r.target) for r in server.network.sent(sid)][-1] == ("revoke", wa_id)
    assert [u["change"] for u in await _updates(admin, sid)] == ["revoked"]
    # gone is gone: it can be neither edited nor deleted again
    _refused(await _edit(admin, original["id"], "too late"), "message_revoked")
    _refused(await admin.delete(f"/v1/messages/{original['id']}"), "message_revoked")


async def test_whatsapps_windows_hold_edits_to_15_minutes_and_deletes_to_2_days(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    original = await send(admin, sid, to=TO, text="price: 100", humanize=False)
    await wait_sent(admin, original["id"])

    await server.advance(15 * 60 + 1)
    _refused(await _edit(admin, original["id"], "price: 90"), "edit_window_passed")
    assert (await admin.get(f"/v1/messages/{original['id']}")).json()["text"] == "price: 100"

    await server.advance(2 * 86400)
    _refused(await admin.delete(f"/v1/messages/{original['id']}"), "revoke_window_passed")
    assert [r.type for r in server.network.sent(sid)] == ["text"]


async def test_a_change_asked_for_before_the_message_went_follows_it_out(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await create_session(admin, "offline")
    sid = session["id"]
    await wait_status(admin, sid, "qr")
    original = await send(admin, sid, to=TO, text="draft", humanize=False)
    change = (await _edit(admin, original["id"], "final")).json()
    assert change["status"] == "queued"

    await admin.post(f"/v1/simulator/{sid}/scan")
    await wait_sent(admin, change["id"])
    sent = (await admin.get(f"/v1/messages/{original['id']}")).json()
    assert sent["text"] == "final"
    assert [(r.type, r.text) for r in server.network.sent(sid)] == [
        ("text", "draft"),
        ("edit", "final"),
    ]


async def test_an_edit_that_waited_past_the_window_fails_and_changes_nothing(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    original = await send(admin, sid, to=TO, text="on my way", humanize=False)
    await wait_sent(admin, original["id"])
    assert (await admin.post(f"/v1/sessions/{sid}/stop")).status_code == 202
    await wait_status(admin, sid, "stopped")
    change = (await _edit(admin, original["id"], "running late")).json()

    await server.advance(16 * 60)  # the session comes back after the edit window closed
    assert (await admin.post(f"/v1/sessions/{sid}/start")).status_code == 202
    failed = await wait_message(admin, change["id"], "failed")
    assert failed["error"]["code"] == "edit_window_passed"
    unchanged = (await admin.get(f"/v1/messages/{original['id']}")).json()
    assert (unchanged["text"], unchanged["edited"]) == ("on my way", False)
    assert [r.type for r in server.network.sent(sid)] == ["text"]


async def test_only_the_sessions_own_messages_and_texts_can_be_edited(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    wa_id = await inbound(admin, sid, **{"from": TO, "text": "hi"})
    received = await find_inbound(admin, sid, wa_id)
    _refused(await _edit(admin, received["id"], "hello"), "not_editable")
    _refused(await admin.delete(f"/v1/messages/{received['id']}"), "not_revocable")

    pin = await send(admin, sid, to=TO, type="location", location={"latitude": 1, "longitude": 2})
    _refused(await _edit(admin, pin["id"], "here"), "not_editable")

    text = await send(admin, sid, to=TO, text="typo", humanize=False)
    change = (await _edit(admin, text["id"], "fixed")).json()
    _refused(await _edit(admin, change["id"], "an edit of an edit"), "not_editable")

    blank = await _edit(admin, text["id"], "   ")
    assert blank.status_code == 422
    assert blank.json()["error"]["code"] == "validation_error"
    as_a_send = await admin.post(
        f"/v1/sessions/{sid}/messages", json={"to": TO, "type": "edit", "text": "x"}
    )
    assert as_a_send.status_code == 422
    missing = await _edit(admin, "msg_does_not_exist", "x")
    assert missing.status_code == 404
