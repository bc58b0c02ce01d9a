"""Chatwoot, as Evolution offers it (issue 17), against a fake Chatwoot that follows its
Application API and webhooks (tests/support/fake_chatwoot.py), on both databases:
inbound messages open or continue a conversation, agents' replies go out on WhatsApp
and pause the assistant, files go both ways, receipts become ticks, and a restart opens
no second conversation.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import wait_status
from tests.engine.helpers import CHAT, CONTACT, advance_until, assistant_session, chat, say
from tests.support.fake_chatwoot import (
    CHATWOOT_ACCOUNT_ID,
    CHATWOOT_TOKEN,
    FakeChatwoot,
    running_fake_chatwoot,
)
from tests.support.server import (
    ADMIN_KEY,
    RunningServer,
    eventually,
    make_settings,
    running_server,
)
from wagate.domain import FakeClock, MessageStatus
from wagate.store.repositories import events

PICTURE = b"\x89PNG\r\n\x1a\n a picture"


@pytest.fixture
async def chatwoot() -> AsyncIterator[FakeChatwoot]:
    async with running_fake_chatwoot() as fake:
        yield fake


async def _link(
    client: httpx.AsyncClient, sid: str, fake: FakeChatwoot, **options: Any
) -> dict[str, Any]:
    body = {
        "url": fake.url,
        "account_id": CHATWOOT_ACCOUNT_ID,
        "token": CHATWOOT_TOKEN,
        "inbox_name": "WhatsApp",
        **options,
    }
    answer = await client.put(f"/v1/sessions/{sid}/chatwoot", json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _messages(fake: FakeChatwoot, count: int, conversation: int | None = None) -> list[Any]:
    """The conversation's (only one's, when not named) messages, once there are ``count``."""

    async def arrived() -> list[Any]:
        ids = [c["id"] for c in fake.conversations] if conversation is None else [conversation]
        assert len(ids) == 1, fake.conversations
        found = fake.messages(ids[0])
        assert len(found) >= count, found
        return found

    result: list[Any] = await eventually(arrived)
    return result


async def test_inbound_opens_a_conversation_and_an_agents_reply_goes_out_and_pauses_the_bot(
    server: RunningServer, admin: httpx.AsyncClient, chatwoot: FakeChatwoot
) -> None:
    sid = await assistant_session(server, admin, resume_after_s=600)
    link = await _link(admin, sid, chatwoot)
    assert link["inbox_name"] == "WhatsApp"
    [inbox] = chatwoot.inboxes
    assert inbox["webhook_url"] == link["webhook_url"]
    assert link["webhook_url"].startswith(f"{server.base_url}/v1/ingest/chatwoot/{sid}?token=")
    assert (await admin.get(f"/v1/sessions/{sid}/chatwoot")).json()["webhook_url"] is None

    await say(admin, sid, "hi, is anyone there?", push_name="Bruna")
    [incoming] = await _messages(chatwoot, 1)
    assert (incoming["content"], incoming["message_type"]) == ("hi, is anyone there?", 0)
    [contact] = chatwoot.contacts
    assert (contact["name"], contact["phone_number"], contact["identifier"]) == (
        "Bruna",
        f"+{CONTACT}",
        CHAT,
    )
    [conversation] = chatwoot.conversations
    assert conversation["inbox_id"] == link["inbox_id"]

    # an agent answers in Chatwoot: it goes out on WhatsApp, and the bot keeps quiet
    await chatwoot.agent_reply(conversation["id"], "Hello Bruna, Ana here.")

    async def sent_by_agent() -> bool:
        return "Hello Bruna, Ana here." in [r.text for r in server.network.sent(sid)]

    await advance_until(server, sent_by_agent)
    state = await chat(admin, sid)
    assert (state["state"], state["paused_reason"]) == ("paused", "human_reply")
    paused = (await admin.get("/v1/events?type=conversation.paused")).json()["items"]
    assert paused[-1]["data"]["from"] == "chatwoot"
    # sent once: the agent's message is not mirrored back as a new one
    await say(admin, sid, "thanks")
    found = await _messages(chatwoot, 3)
    assert [(m["content"], m["message_type"]) for m in found] == [
        ("hi, is anyone there?", 0),
        ("Hello Bruna, Ana here.", 1),
        ("thanks", 0),
    ]

    # the agent resolves the conversation: the chat is the bot's again
    await chatwoot.resolve(conversation["id"])

    async def resumed() -> bool:
        return (await chat(admin, sid))["state"] == "bot"

    await eventually(resumed)
    events = (await admin.get("/v1/events?type=conversation.resumed")).json()["items"]
    assert events[-1]["data"]["reason"] == "chatwoot_resolved"


async def test_files_go_both_ways_and_phone_typed_messages_show_as_outgoing(
    server: RunningServer, admin: httpx.AsyncClient, chatwoot: FakeChatwoot
) -> None:
    sid = await assistant_session(server, admin)
    await _link(admin, sid, chatwoot, sign_messages=True)
    inbound = {
        "from": CONTACT,
        "type": "image",
        "media": {
            "base64": base64.b64encode(PICTURE).decode(),
            "mime_type": "image/png",
            "caption": "my receipt",
        },
    }
    assert (await admin.post(f"/v1/simulator/{sid}/inbound", json=inbound)).status_code == 202
    [image] = await _messages(chatwoot, 1)
    assert image["content"] == "my receipt"
    [conversation] = chatwoot.conversations
    [stored] = chatwoot.attachments(conversation["id"])
    assert (stored.data, stored.content_type) == (PICTURE, "image/png")

    invoice = b"%PDF-1.4 an invoice"
    await chatwoot.agent_reply(
        conversation["id"], "here it is", attachments=[("invoice.pdf", invoice, "application/pdf")]
    )

    async def document_sent() -> list[Any]:
        page = (await admin.get(f"/v1/sessions/{sid}/messages?direction=out")).json()["items"]
        documents = [m for m in page if m["type"] == "document" and m["status"] != "queued"]
        assert documents, page
        return documents

    await advance_until(server, lambda: _true(document_sent))
    [document] = await document_sent()
    assert document["text"] == "*Alice Agent:*\nhere it is"  # sign_messages: the agent's name
    assert document["media"]["file_name"] == "invoice.pdf"
    got = await admin.get(f"/v1/messages/{document['id']}/media")
    assert got.content == invoice

    # the owner types on the phone: an outgoing message in the conversation
    await admin.post(
        f"/v1/simulator/{sid}/inbound", json={"from_me": True, "to": CONTACT, "text": "call me"}
    )
    found = await _messages(chatwoot, 3)
    assert (found[-1]["content"], found[-1]["message_type"]) == ("call me", 1)


async def _true(check: Any) -> bool:
    try:
        await check()
    except AssertionError:
        return False
    return True


async def test_a_restart_continues_the_conversation_and_chatwoot_away_loses_nothing(
    db_url: str, tmp_path: Path, clock: FakeClock, chatwoot: FakeChatwoot
) -> None:
    settings = make_settings(db_url, tmp_path / "data", shutdown_timeout_s=0.5)
    async with running_server(settings, clock) as first, first.client() as api:
        sid = await assistant_session(first, api)
        await _link(api, sid, chatwoot)
        await say(api, sid, "before the restart")
        await _messages(chatwoot, 1)
    # the mapping is lost too (as if the table were restored from an old backup): the
    # conversation is still found in Chatwoot, not opened again
    async with running_server(settings, clock) as second, second.client() as api:
        await wait_status(api, sid, "connected")
        async with second.services.db.transaction() as tx:
            from sqlalchemy import delete

            from wagate.store.models_engine import ChatwootConversation

            await tx.execute(delete(ChatwootConversation))
        chatwoot.fail_next(503)  # Chatwoot is away for the next call
        await say(api, sid, "after the restart")

        async def both() -> bool:
            return (
                len(chatwoot.conversations) == 1
                and len(chatwoot.messages(chatwoot.conversations[0]["id"])) == 2
            )

        await advance_until(second, both, step=1, limit=30)
    assert len(chatwoot.contacts) == 1
    assert [m["content"] for m in chatwoot.messages(chatwoot.conversations[0]["id"])] == [
        "before the restart",
        "after the restart",
    ]


async def test_the_webhook_needs_its_token_and_a_failed_reply_leaves_a_note(
    server: RunningServer, admin: httpx.AsyncClient, chatwoot: FakeChatwoot
) -> None:
    sid = await assistant_session(server, admin)
    link = await _link(admin, sid, chatwoot)
    url = link["webhook_url"].replace(server.base_url, "")
    forged = await admin.post(url.split("?")[0] + "?token=nope", json={"event": "x"})
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "invalid_ingest_token"
    assert (await admin.post(url, json={"event": "conversation_created"})).json() == {
        "result": "ignored: conversation_created"
    }

    await say(admin, sid, "hello")
    await _messages(chatwoot, 1)
    [conversation] = chatwoot.conversations
    server.network.fail_next_sends(sid, 1, code="recipient_blocked", transient=False)
    await chatwoot.agent_reply(conversation["id"], "this one fails")

    async def noted() -> bool:
        notes = [m for m in chatwoot.messages(conversation["id"]) if m["private"]]
        return bool(notes) and "Not delivered on WhatsApp" in notes[0]["content"]

    await advance_until(server, noted)
    [note] = [m for m in chatwoot.messages(conversation["id"]) if m["private"]]
    assert "recipient_blocked" in note["content"] or "blocked" in note["content"]

    assert (await admin.delete(f"/v1/sessions/{sid}/chatwoot")).status_code == 204
    assert (await admin.post(url, json={"event": "message_created"})).status_code == 401


async def test_evolutions_chatwoot_set_and_find(
    server: RunningServer, admin: httpx.AsyncClient, chatwoot: FakeChatwoot
) -> None:
    evo = httpx.AsyncClient(
        base_url=f"{server.base_url}/evolution", headers={"apikey": ADMIN_KEY}, timeout=10
    )
    async with evo:
        assert (await evo.post("/instance/create", json={"instanceName": "desk"})).is_success
        assert (await evo.get("/chatwoot/find/desk")).json() is None
        body = {
            "enabled": True,
            "accountId": str(CHATWOOT_ACCOUNT_ID),
            "token": CHATWOOT_TOKEN,
            "url": chatwoot.url,
            "signMsg": True,
            "reopenConversation": False,
            "conversationPending": True,
            "nameInbox": "desk",
            "importContacts": True,  # accepted, not used
        }
        answer = await evo.post("/chatwoot/set/desk", json=body)
        assert answer.status_code == 201, answer.text
        set_view = answer.json()
        assert set_view["webhook_url"].startswith(f"{server.base_url}/v1/ingest/chatwoot/")
        assert [i["name"] for i in chatwoot.inboxes] == ["desk"]
        found = (await evo.get("/chatwoot/find/desk")).json()
        assert {k: found[k] for k in ("enabled", "accountId", "token", "nameInbox")} == {
            "enabled": True,
            "accountId": "1",
            "token": CHATWOOT_TOKEN,
            "nameInbox": "desk",
        }
        assert (found["signMsg"], found["reopenConversation"], found["conversationPending"]) == (
            True,
            False,
            True,
        )
        off = await evo.post("/chatwoot/set/desk", json={"enabled": False})
        assert off.json()["enabled"] is False
        assert (await evo.get("/chatwoot/find/desk")).json()["enabled"] is False
        missing = await evo.post("/chatwoot/set/desk", json={"enabled": True})
        assert missing.status_code == 422
        assert missing.json()["response"]["message"] == [
            "url, token and accountId are required to enable Chatwoot"
        ]


async def _receipt(server: RunningServer, sid: str, text: str, status: MessageStatus) -> None:
    """The contact's phone reports the message with this text ``status``."""

    def sent() -> list[str]:
        return [r.wa_message_id for r in server.network.sent(sid) if r.text == text]

    async def reached() -> bool:
        return bool(sent())

    await advance_until(server, reached)
    assert await server.network.receipt(sid, sent()[0], status)


async def _ticks(server: RunningServer, fake: FakeChatwoot, message_id: int, status: str) -> None:
    async def shown() -> bool:
        found = [
            m for c in fake.conversations for m in fake.messages(c["id"]) if m["id"] == message_id
        ]
        return bool(found) and found[0]["status"] == status

    await advance_until(server, shown)


async def test_receipts_become_the_ticks_of_the_chatwoot_messages(
    server: RunningServer, admin: httpx.AsyncClient, chatwoot: FakeChatwoot
) -> None:
    sid = await assistant_session(server, admin, resume_after_s=600)
    await _link(admin, sid, chatwoot)
    await say(admin, sid, "hello")
    await _messages(chatwoot, 1)
    [conversation] = chatwoot.conversations

    # an agent's reply: delivered, then read on the contact's phone
    reply = await chatwoot.agent_reply(conversation["id"], "Ana here, how can I help?")
    assert reply["status"] == "sent"
    await _receipt(server, sid, "Ana here, how can I help?", MessageStatus.DELIVERED)
    await _ticks(server, chatwoot, reply["id"], "delivered")
    await _receipt(server, sid, "Ana here, how can I help?", MessageStatus.READ)
    await _ticks(server, chatwoot, reply["id"], "read")

    # a message sent through the API, mirrored by wagate: its ticks too
    sent = await admin.post(f"/v1/sessions/{sid}/messages", json={"to": CONTACT, "text": "Promo"})
    assert sent.status_code == 202, sent.text
    found = await _messages(chatwoot, 3)
    [mirrored] = [m for m in found if m["content"] == "Promo"]
    await _receipt(server, sid, "Promo", MessageStatus.READ)
    await _ticks(server, chatwoot, mirrored["id"], "read")

    # Chatwoot tells of each change (message_updated): wagate sends nothing for it
    await chatwoot.settle()
    assert len(chatwoot.webhooks("message_updated")) >= 3
    texts = [r.text for r in server.network.sent(sid)]
    assert texts.count("Ana here, how can I help?") == 1
    assert texts.count("Promo") == 1

    # a reply WhatsApp refuses: failed, with the reason, besides the private note
    server.network.fail_next_sends(sid, 1, code="recipient_blocked", transient=False)
    refused = await chatwoot.agent_reply(conversation["id"], "this one fails")
    await _ticks(server, chatwoot, refused["id"], "failed")
    [failed] = [m for m in chatwoot.messages(conversation["id"]) if m["id"] == refused["id"]]
    assert failed["content_attributes"]["external_error"]


async def test_a_chatwoot_without_the_status_api_still_gets_every_message(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """Ticks are a courtesy: a Chatwoot from before its message status API refuses them
    (404); nothing is dead-lettered and the messages after them still arrive."""
    async with (
        running_fake_chatwoot(status_api=False) as old,
        running_server(make_settings(db_url, tmp_path), clock) as server,
        server.client(ADMIN_KEY) as admin,
    ):
        sid = await assistant_session(server, admin, resume_after_s=600)
        await _link(admin, sid, old)
        await say(admin, sid, "hello")
        await _messages(old, 1)
        [conversation] = old.conversations
        await old.agent_reply(conversation["id"], "Ana here")
        await _receipt(server, sid, "Ana here", MessageStatus.READ)

        async def refused() -> bool:
            return any(r.method == "PATCH" and "/messages/" in r.path for r in old.requests)

        await advance_until(server, refused)
        await say(admin, sid, "thanks")
        found = await _messages(old, 3)
        assert [m["content"] for m in found] == ["hello", "Ana here", "thanks"]
        assert {m["status"] for m in found} == {"sent"}
        async with server.services.db.read() as tx:
            assert await events.list_dead_letters(tx) == []


async def test_a_contact_gets_its_whatsapp_name_but_an_agents_edit_stays(
    server: RunningServer, admin: httpx.AsyncClient, chatwoot: FakeChatwoot
) -> None:
    sid = await assistant_session(server, admin, resume_after_s=600)
    await _link(admin, sid, chatwoot)
    # the owner writes first, from the phone: the contact has only a number for a name
    first = {"from_me": True, "to": CONTACT, "text": "your order is ready"}
    assert (await admin.post(f"/v1/simulator/{sid}/inbound", json=first)).status_code == 202
    await _messages(chatwoot, 1)
    [contact] = chatwoot.contacts
    assert contact["name"] == f"+{CONTACT}"

    await say(admin, sid, "thanks!", push_name="Bruna")
    await _messages(chatwoot, 2)
    [contact] = chatwoot.contacts
    assert contact["name"] == "Bruna"

    # an agent renames the contact in Chatwoot; a new WhatsApp name does not undo that
    async with httpx.AsyncClient(
        base_url=f"{chatwoot.url}/api/v1/accounts/{CHATWOOT_ACCOUNT_ID}",
        headers={"api_access_token": CHATWOOT_TOKEN},
    ) as web_app:
        renamed = await web_app.put(f"/contacts/{contact['id']}", json={"name": "Bruna (VIP)"})
        assert renamed.status_code == 200, renamed.text
    await say(admin, sid, "one more thing", push_name="Bru")
    await _messages(chatwoot, 3)
    [contact] = chatwoot.contacts
    assert contact["name"] == "Bruna (VIP)"
    renames = [r.json for r in chatwoot.requests if r.method == "PUT" and "name" in (r.json or {})]
    assert renames == [{"name": "Bruna"}, {"name": "Bruna (VIP)"}]  # wagate's, the agent's
