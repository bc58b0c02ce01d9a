"""Guardrails applied when a message is accepted: duplicates, opt-outs, and the message TTL."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from tests.api.helpers import connected_session, create_session, send, wait_message
from tests.support.server import RunningServer
from wagate.store.models import Message
from wagate.store.repositories import contacts

CONTACT = "5511988887777"
OTHER = "5511977776666"
LID = "123456789012345"


async def _idle_session(client: httpx.AsyncClient, name: str = "guarded") -> str:
    return str((await create_session(client, name, start=False))["id"])


async def _post(client: httpx.AsyncClient, session_id: str, **body: object) -> httpx.Response:
    return await client.post(f"/v1/sessions/{session_id}/messages", json=body)


async def _stored(server: RunningServer, message_id: str) -> Message:
    async with server.services.db.read() as tx:
        return (await tx.scalars(select(Message).where(Message.id == message_id))).one()


async def _opt_out(
    server: RunningServer, session_id: str, *, phone: str | None = None, lid: str | None = None
) -> None:
    now = server.clock.now()
    async with server.services.db.transaction() as tx:
        contact = await contacts.remember_contact(
            tx, session_id, phone=phone, lid=lid, push_name=None, now=now
        )
        assert contact is not None
        contact.opted_out_at = now


async def test_the_same_text_to_the_same_chat_is_refused_within_the_window(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await _idle_session(admin)
    first = await send(admin, sid, to=CONTACT, text="Your code is 1234")
    again = await _post(admin, sid, to=f"+{CONTACT}", text="Your code is 1234")
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "duplicate_message"
    assert first["id"] in error["message"]
    assert (await _post(admin, sid, to=OTHER, text="Your code is 1234")).status_code == 202
    assert (await _post(admin, sid, to=CONTACT, text="Your code is 1235")).status_code == 202
    image = {"base64": "iVBORw0KGgo=", "mime_type": "image/png", "caption": "same"}
    for _ in range(2):  # only text messages are compared
        assert (await _post(admin, sid, to=CONTACT, type="image", media=image)).status_code == 202
    await server.advance(299)
    assert (await _post(admin, sid, to=CONTACT, text="Your code is 1234")).status_code == 409
    await server.advance(2)
    later = await _post(admin, sid, to=CONTACT, text="Your code is 1234")
    assert later.status_code == 202, later.text
    metrics = (await admin.get("/metrics")).text
    assert 'wagate_errors_total{code="duplicate_message"} 2.0' in metrics


async def test_the_duplicate_window_follows_the_session_settings(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await _idle_session(admin)
    changed = await admin.put(f"/v1/sessions/{sid}/settings", json={"duplicate_window_s": 0})
    assert changed.status_code == 200, changed.text
    for _ in range(2):
        assert (await _post(admin, sid, to=CONTACT, text="ping")).status_code == 202
    changed = await admin.put(f"/v1/sessions/{sid}/settings", json={"duplicate_window_s": 10})
    assert changed.status_code == 200
    assert (await _post(admin, sid, to=CONTACT, text="ping")).status_code == 409
    await server.advance(11)
    assert (await _post(admin, sid, to=CONTACT, text="ping")).status_code == 202


async def test_a_failed_message_does_not_count_as_a_duplicate(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    queued = await send(admin, session["id"], to="09999999999", text="anyone?")
    await wait_message(admin, queued["id"], "failed")
    retry = await _post(admin, session["id"], to="09999999999", text="anyone?")
    assert retry.status_code == 202, retry.text


async def test_an_opted_out_recipient_is_refused(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await _idle_session(admin)
    await _opt_out(server, sid, phone=CONTACT)
    refused = await _post(admin, sid, to="+55 11 98888-7777", text="offer")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "recipient_opted_out"
    assert CONTACT in refused.json()["error"]["message"]
    reaction = await _post(
        admin, sid, to=CONTACT, type="reaction", reaction={"message_id": "ABC", "emoji": "👍"}
    )
    assert reaction.json()["error"]["code"] == "recipient_opted_out"
    assert (await _post(admin, sid, to=OTHER, text="offer")).status_code == 202
    metrics = (await admin.get("/metrics")).text
    assert 'wagate_errors_total{code="recipient_opted_out"} 2.0' in metrics


async def test_opt_out_is_found_by_lid(server: RunningServer, admin: httpx.AsyncClient) -> None:
    sid = await _idle_session(admin)
    await _opt_out(server, sid, lid=LID)  # known only by lid
    refused = await _post(admin, sid, to=f"{LID}@lid", text="hello")
    assert refused.json()["error"]["code"] == "recipient_opted_out"
    await _opt_out(server, sid, phone=OTHER, lid="999888777666")  # known by both
    by_lid = await _post(admin, sid, to="999888777666@lid", text="hello")
    assert by_lid.json()["error"]["code"] == "recipient_opted_out"
    by_phone = await _post(admin, sid, to=OTHER, text="hello")
    assert by_phone.json()["error"]["code"] == "recipient_opted_out"


async def test_a_contact_who_did_not_opt_out_is_served(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await _idle_session(admin)
    now = server.clock.now()
    async with server.services.db.transaction() as tx:
        await contacts.remember_contact(
            tx, sid, phone=CONTACT, lid=LID, push_name="Ana", now=now, inbound=True
        )
    assert (await _post(admin, sid, to=CONTACT, text="hi Ana")).status_code == 202
    via_lid = await _post(admin, sid, to=f"{LID}@lid", text="hi again")
    assert via_lid.status_code == 202
    assert via_lid.json()["chat_id"] == f"{CONTACT}@s.whatsapp.net"


async def test_ttl_s_sets_the_expiry(server: RunningServer, admin: httpx.AsyncClient) -> None:
    sid = await _idle_session(admin)
    default = await send(admin, sid, to=CONTACT, text="default ttl")
    row = await _stored(server, default["id"])
    assert row.expires_at == row.created_at + timedelta(seconds=86400)
    short = await send(admin, sid, to=CONTACT, text="short ttl", ttl_s=90)
    row = await _stored(server, short["id"])
    assert row.expires_at == row.created_at + timedelta(seconds=90)
    await admin.put(f"/v1/sessions/{sid}/settings", json={"message_ttl_s": 600})
    session_ttl = await send(admin, sid, to=CONTACT, text="session ttl")
    row = await _stored(server, session_ttl["id"])
    assert row.expires_at == row.created_at + timedelta(seconds=600)
    for bad in (0, -5, "soon"):
        refused = await _post(admin, sid, to=CONTACT, text="x", ttl_s=bad)
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "validation_error"


async def test_a_message_past_its_ttl_s_fails_as_expired(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    await admin.post(f"/v1/sessions/{session['id']}/stop")
    queued = await send(admin, session["id"], to=CONTACT, text="flash sale", ttl_s=5)
    kept = await send(admin, session["id"], to=OTHER, text="newsletter")
    await server.advance(6)
    await admin.post(f"/v1/sessions/{session['id']}/start")
    failed = await wait_message(admin, queued["id"], "failed")
    assert failed["error"]["code"] == "expired"
    await wait_message(admin, kept["id"], "sent")
