"""The fake Chatwoot of tests/support/fake_chatwoot.py, driven over HTTP as a bridge would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.events.support import Receiver
from tests.support.fake_chatwoot import (
    CHATWOOT_ACCOUNT_ID,
    CHATWOOT_TOKEN,
    FakeChatwoot,
    running_fake_chatwoot,
)

PHONE = "+5511999990001"
JID = "5511999990001@s.whatsapp.net"
PNG = b"\x89PNG\r\n\x1a\nfake-image-bytes"


@pytest.fixture
async def chatwoot() -> AsyncIterator[FakeChatwoot]:
    async with running_fake_chatwoot() as fake:
        yield fake


@pytest.fixture
async def api(chatwoot: FakeChatwoot) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"{chatwoot.url}/api/v1/accounts/{CHATWOOT_ACCOUNT_ID}",
        headers={"api_access_token": CHATWOOT_TOKEN},
        trust_env=False,
    ) as client:
        yield client


async def post(api: httpx.AsyncClient, path: str, **body: Any) -> dict[str, Any]:
    response = await api.post(path, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def setup_conversation(
    api: httpx.AsyncClient, webhook_url: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Inbox, contact and conversation, as a bridge creates them; ids sent as strings."""
    channel = {"type": "api", "webhook_url": webhook_url}
    inbox = await post(api, "/inboxes", name="WhatsApp", channel=channel)
    created = await post(
        api, "/contacts", inbox_id=inbox["id"], name="Maria", phone_number=PHONE, identifier=JID
    )
    contact = created["payload"]["contact"]
    conversation = await post(
        api, "/conversations", contact_id=str(contact["id"]), inbox_id=str(inbox["id"])
    )
    return inbox, contact, conversation


async def test_the_token_and_the_account_are_checked(
    chatwoot: FakeChatwoot, api: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=chatwoot.url, trust_env=False) as anonymous:
        for headers in ({}, {"api_access_token": "wrong"}):
            response = await anonymous.get("/api/v1/accounts/1/inboxes", headers=headers)
            assert response.status_code == 401
            assert response.json() == {"error": "Invalid Access Token"}
        other = await anonymous.get(
            "/api/v1/accounts/2/inboxes", headers={"api_access_token": CHATWOOT_TOKEN}
        )
    assert other.status_code == 404
    assert (await api.get("/conversations/999")).status_code == 404
    assert chatwoot.requests[0].path == "/api/v1/accounts/1/inboxes"


async def test_inboxes_and_contacts(chatwoot: FakeChatwoot, api: httpx.AsyncClient) -> None:
    channel = {"type": "api", "webhook_url": "http://127.0.0.1:9/hook"}
    inbox = await post(api, "/inboxes", name="WhatsApp", channel=channel)
    assert inbox["id"] == 1
    assert (inbox["channel_type"], inbox["webhook_url"]) == ("Channel::Api", channel["webhook_url"])
    listed = (await api.get("/inboxes")).json()
    assert [i["name"] for i in listed["payload"]] == ["WhatsApp"]

    created = await post(
        api,
        "/contacts",
        inbox_id=inbox["id"],
        name="Maria",
        phone_number=PHONE,
        identifier=JID,
        custom_attributes={"tier": "gold"},
    )
    contact = created["payload"]["contact"]
    assert (contact["id"], contact["phone_number"], contact["identifier"]) == (1, PHONE, JID)
    assert isinstance(contact["created_at"], int)
    assert created["payload"]["contact_inbox"]["inbox"]["id"] == inbox["id"]
    assert created["payload"]["contact_inbox"]["source_id"]

    duplicate = await api.post("/contacts", json={"inbox_id": 1, "phone_number": PHONE})
    assert duplicate.status_code == 422
    assert duplicate.json()["attributes"] == ["phone_number"]
    not_e164 = await api.post("/contacts", json={"name": "X", "phone_number": "5511999990002"})
    assert not_e164.status_code == 422

    for q in (PHONE, "99999", "mar", "@s.whatsapp"):
        found = (await api.get("/contacts/search", params={"q": q})).json()
        assert [c["id"] for c in found["payload"]] == [1], q
        assert found["meta"]["count"] == 1
    nothing = (await api.get("/contacts/search", params={"q": "nobody"})).json()
    assert nothing["payload"] == []

    def condition(key: str, operator: str, value: str, then: str | None = None) -> dict[str, Any]:
        return {
            "attribute_key": key,
            "filter_operator": operator,
            "values": [value],
            "query_operator": then,
        }

    for conditions in (
        [condition("phone_number", "equal_to", PHONE.lstrip("+"))],  # as Evolution sends it
        [
            condition("phone_number", "equal_to", "5511999990009", "OR"),
            condition("identifier", "equal_to", JID),
        ],
        [condition("phone_number", "contains", "99999")],
    ):
        filtered = await post(api, "/contacts/filter", payload=conditions)
        assert [c["id"] for c in filtered["payload"]] == [1], conditions
    missed = await post(
        api,
        "/contacts/filter",
        payload=[
            condition("phone_number", "equal_to", PHONE, "AND"),
            condition("identifier", "equal_to", "other@s.whatsapp.net"),
        ],
    )
    assert missed["payload"] == []

    updated = (
        await api.put("/contacts/1", json={"name": "Maria S.", "custom_attributes": {"vip": True}})
    ).json()["payload"]
    assert updated["name"] == "Maria S."
    assert updated["custom_attributes"] == {"tier": "gold", "vip": True}
    assert chatwoot.contacts[0]["name"] == "Maria S."


async def test_conversations_and_incoming_messages(
    chatwoot: FakeChatwoot, api: httpx.AsyncClient
) -> None:
    inbox, contact, conversation = await setup_conversation(api, "")  # no webhook
    assert (conversation["id"], conversation["inbox_id"], conversation["status"]) == (
        1,
        inbox["id"],
        "open",
    )
    assert conversation["meta"]["sender"]["id"] == contact["id"]
    assert (await api.get("/conversations/1")).json()["id"] == 1
    listed = (await api.get("/conversations", params={"inbox_id": inbox["id"]})).json()
    assert [c["id"] for c in listed["data"]["payload"]] == [1]
    resolved = (await api.get("/conversations", params={"status": "resolved"})).json()
    assert resolved["data"]["payload"] == []
    of_contact = (await api.get(f"/contacts/{contact['id']}/conversations")).json()
    assert [(c["id"], c["inbox_id"]) for c in of_contact["payload"]] == [(1, inbox["id"])]

    text = await post(
        api, "/conversations/1/messages", content="Oi", message_type="incoming", source_id="WAID:A1"
    )
    assert (text["message_type"], text["source_id"], text["sender"]["type"]) == (
        0,
        "WAID:A1",
        "contact",
    )
    response = await api.post(
        "/conversations/1/messages",
        data={"message_type": "incoming", "content": "a photo", "source_id": "WAID:A2"},
        files={"attachments[]": ("photo.png", PNG, "image/png")},
    )
    assert response.status_code == 200, response.text
    [attachment] = response.json()["attachments"]
    assert (attachment["file_type"], attachment["file_size"]) == ("image", len(PNG))
    download = await api.get(attachment["data_url"], headers={"api_access_token": ""})
    assert download.status_code == 302  # Active Storage redirects to the file
    async with httpx.AsyncClient(follow_redirects=True, trust_env=False) as anyone:
        file = await anyone.get(attachment["data_url"])
    assert (file.status_code, file.content) == (200, PNG)
    assert file.headers["content-type"] == "image/png"
    [stored] = chatwoot.attachments(1)
    assert (stored.file_name, stored.content_type, stored.data) == ("photo.png", "image/png", PNG)

    messages = (await api.get("/conversations/1/messages")).json()["payload"]
    assert [m["content"] for m in messages] == ["Oi", "a photo"]
    assert chatwoot.messages(1) == messages
    toggled = await post(api, "/conversations/1/toggle_status", status="resolved")
    assert toggled["payload"]["current_status"] == "resolved"
    assert chatwoot.deliveries == []  # the inbox has no webhook_url


async def test_agent_reply_posts_the_webhook(
    chatwoot: FakeChatwoot, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    inbox, contact, conversation = await setup_conversation(api, receiver.url)
    await post(api, "/conversations/1/messages", content="Oi", message_type="incoming")
    await chatwoot.settle()
    assert [b["event"] for b in receiver.bodies()] == ["conversation_created", "message_created"]
    assert receiver.bodies()[1]["message_type"] == "incoming"  # Chatwoot echoes API messages
    receiver.received.clear()

    reply = await chatwoot.agent_reply(
        conversation["id"], "Olá!", attachments=[("menu.pdf", b"%PDF-1.4", "application/pdf")]
    )
    assert (reply["message_type"], reply["sender"]["type"]) == (1, "user")
    [got] = receiver.received
    assert got.headers["Content-Type"] == "application/json"
    body = got.json
    assert body["event"] == "message_created"
    assert (body["id"], body["content"], body["message_type"], body["private"]) == (
        reply["id"],
        "Olá!",
        "outgoing",
        False,
    )
    assert (body["content_type"], body["source_id"]) == ("text", None)
    assert body["sender"]["type"] == "user"
    assert body["inbox"] == {"id": inbox["id"], "name": "WhatsApp"}
    assert body["account"]["id"] == CHATWOOT_ACCOUNT_ID
    assert isinstance(body["created_at"], str)
    sent_conversation = body["conversation"]
    assert sent_conversation["id"] == conversation["id"]
    assert sent_conversation["contact_inbox"]["source_id"]
    sender = sent_conversation["meta"]["sender"]
    assert (sender["id"], sender["phone_number"], sender["identifier"]) == (
        contact["id"],
        PHONE,
        JID,
    )
    assert sent_conversation["messages"][0]["id"] == body["id"]
    [attachment] = body["attachments"]
    assert attachment["file_type"] == "file"
    async with httpx.AsyncClient(follow_redirects=True, trust_env=False) as anyone:
        assert (await anyone.get(attachment["data_url"])).content == b"%PDF-1.4"
    assert chatwoot.deliveries[-1].status == 204

    receiver.received.clear()
    await chatwoot.agent_reply(conversation["id"], "internal note", private=True)
    assert receiver.bodies()[0]["private"] is True
    assert [m["private"] for m in chatwoot.messages(1)] == [False, False, True]


async def test_status_changes(
    chatwoot: FakeChatwoot, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    _, _, conversation = await setup_conversation(api, receiver.url)
    await chatwoot.settle()
    receiver.received.clear()
    resolved = await chatwoot.resolve(conversation["id"])
    assert resolved["status"] == "resolved"
    [body] = receiver.bodies()
    assert (body["event"], body["status"], body["id"]) == (
        "conversation_status_changed",
        "resolved",
        conversation["id"],
    )
    assert body["meta"]["sender"]["identifier"] == JID
    assert body["changed_attributes"] == [
        {"status": {"previous_value": "open", "current_value": "resolved"}}
    ]
    # A contact's message reopens a resolved conversation.
    await post(api, "/conversations/1/messages", content="again", message_type="incoming")
    await chatwoot.settle()
    assert [b["event"] for b in receiver.bodies()[1:]] == [
        "conversation_status_changed",
        "message_created",
    ]
    assert chatwoot.conversations[0]["status"] == "open"
    await chatwoot.reopen(conversation["id"])  # already open: nothing is sent
    assert len(receiver.received) == 3


async def test_message_statuses(
    chatwoot: FakeChatwoot, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Chatwoot's message status API for API inboxes: read never goes back to delivered,
    and each change is a ``message_updated`` webhook."""
    _, _, conversation = await setup_conversation(api, receiver.url)
    path = f"/conversations/{conversation['id']}/messages"
    message = await post(api, path, content="hi", message_type="outgoing")
    await chatwoot.settle()
    receiver.received.clear()

    for status in ("delivered", "read", "delivered"):
        answer = await api.patch(f"{path}/{message['id']}", json={"status": status})
        assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "read"
    assert (await api.patch(f"{path}/{message['id']}", json={"status": "seen"})).status_code == 422
    assert (await api.patch(f"{path}/999", json={"status": "read"})).status_code == 404
    failed = await api.patch(
        f"{path}/{message['id']}", json={"status": "failed", "external_error": "blocked"}
    )
    assert failed.json()["content_attributes"]["external_error"] == "blocked"
    await chatwoot.settle()
    assert [(b["event"], b["id"]) for b in receiver.bodies()] == [
        ("message_updated", message["id"]),
        ("message_updated", message["id"]),
        ("message_updated", message["id"]),
    ]

    chatwoot.status_api = False  # a Chatwoot from before that API
    assert (await api.patch(f"{path}/{message['id']}", json={"status": "read"})).status_code == 404


async def test_failed_deliveries_are_recorded_not_raised(
    chatwoot: FakeChatwoot, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.answer = lambda _: (500, {}, b"down")
    await setup_conversation(api, receiver.url)
    reply = await chatwoot.agent_reply(1, "hello")
    delivery = chatwoot.deliveries[-1]
    assert (delivery.event, delivery.status, delivery.error) == ("message_created", 500, "http_500")
    [message] = [m for m in chatwoot.messages(1) if m["id"] == reply["id"]]
    assert message["status"] == "failed"
    assert message["content_attributes"]["external_error"] == "http_500"

    chatwoot.add_inbox("Elsewhere", "http://192.0.2.1/hook")  # not loopback: never contacted
    await post(api, "/contacts", inbox_id=2, name="Off", phone_number="+5511999990003")
    await post(api, "/conversations", contact_id=2, inbox_id=2)
    await chatwoot.settle()
    assert (chatwoot.deliveries[-1].error or "").startswith("refused")

    await receiver.stop()  # nothing listens any more
    await chatwoot.agent_reply(1, "anyone?")
    assert chatwoot.deliveries[-1].status is None
    assert chatwoot.deliveries[-1].error
