"""wagate's messages in Evolution's shapes (``events/evolution.py``), checked the other way
round: what wagate posts as ``messages.upsert`` must read back, through wagate's own
Evolution transport (which the real-world payloads in tests/transports/evolution test),
as the message it came from. Pure functions; no server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from wagate.domain import MessageReceived, ReceiptReceived
from wagate.events.evolution import (
    EVENT_NAMES,
    SOURCES,
    EvolutionFormat,
    Instance,
    evolution_event,
    wagate_types,
)
from wagate.transports.evolution import normalize_evolution_payload

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
CHAT = "5511988887777@s.whatsapp.net"
INSTANCE = Instance(name="sales", id="ses_1", phone="5511900000000", profile_name="Sales")
EVERYTHING = EvolutionFormat(events=frozenset(EVENT_NAMES))


def message(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "msg_1",
        "wa_message_id": "3EB0AAAA0001",
        "chat_id": CHAT,
        "chat_type": "direct",
        "sender": CHAT,
        "push_name": "Ana",
        "from_me": False,
        "direction": "in",
        "type": "text",
        "text": None,
        "timestamp": "2026-01-05T11:59:00Z",
        "status": "received",
    }
    return base | fields


def posted(data: dict[str, Any], event_type: str = "message.received") -> dict[str, Any]:
    payload = {"type": event_type, "timestamp": "2026-01-05T11:59:01Z", "data": data}
    rendered = EVERYTHING.render(
        payload, INSTANCE, destination="https://example.test/hook", server_url=None
    )
    assert rendered is not None
    return rendered[1]


def read_back(body: dict[str, Any]) -> MessageReceived:
    result = normalize_evolution_payload(body, received_at=NOW)
    found = [e for e in result.events if isinstance(e, MessageReceived)]
    assert len(found) == 1, result
    return found[0]


@pytest.mark.parametrize(
    "fields",
    [
        {"text": "oi"},
        {"text": "a reply", "reply_to": "3EB0QUOTED01"},
        {
            "type": "location",
            "location": {"latitude": -23.55, "longitude": -46.63, "name": "Sé", "address": "SP"},
        },
        {"type": "contacts", "contacts": [{"name": "Bruno", "phone": "5511977776666"}]},
        {
            "type": "contacts",
            "contacts": [
                {"name": "Bruno", "phone": "5511977776666"},
                {"name": "Carla; Jr", "phone": "5521966665555"},
            ],
        },
        {"type": "reaction", "reaction": {"message_id": "3EB0TARGET01", "emoji": "👍"}},
        {
            "type": "image",
            "text": "look",
            "media": {"mime_type": "image/jpeg", "size": 21, "url": "https://x.test/m"},
        },
        {"type": "voice", "media": {"mime_type": "audio/ogg; codecs=opus", "voice": True}},
        {
            "type": "document",
            "text": "the contract",
            "media": {"mime_type": "application/pdf", "file_name": "c.pdf"},
        },
    ],
    ids=lambda f: f.get("type", "text") + ("_reply" if "reply_to" in f else ""),
)
def test_a_posted_message_reads_back_as_itself(fields: dict[str, Any]) -> None:
    original = message(**fields)
    body = posted(original)
    assert body["event"] == "messages.upsert"
    assert body["sender"] == "5511900000000@s.whatsapp.net"
    back = read_back(body).message
    assert back.wa_message_id == original["wa_message_id"]
    assert back.chat_id == CHAT
    assert back.type.value == original["type"]
    assert back.text == original["text"]
    assert back.reply_to == original.get("reply_to")
    assert back.push_name == "Ana"
    assert back.timestamp == datetime(2026, 1, 5, 11, 59, tzinfo=UTC)
    if "location" in original:
        assert back.location is not None
        assert back.location.model_dump() == original["location"]
    if "contacts" in original:
        assert [c.model_dump() for c in back.contacts or []] == original["contacts"]
    if "reaction" in original:
        assert back.reaction is not None
        assert back.reaction.model_dump() == original["reaction"]
    if "media" in original:
        assert back.media is not None
        assert back.media.mime_type == original["media"]["mime_type"]
        assert back.media.file_name == original["media"].get("file_name")


def test_a_message_typed_on_the_phone_is_an_upsert_from_me() -> None:
    body = posted(message(text="from the phone", from_me=True, direction="out"))
    assert body["data"]["key"]["fromMe"] is True
    assert read_back(body).message.from_me is True


def test_which_events_become_which() -> None:
    assert evolution_event("message.updated", {"change": "edited"}) == "MESSAGES_EDITED"
    assert evolution_event("message.updated", {"change": "revoked"}) == "MESSAGES_DELETE"
    assert evolution_event("message.updated", {"change": "transcribed"}) is None
    assert evolution_event("message.sent", {"type": "edit"}) is None  # the target's update is
    assert evolution_event("message.sent", {"type": "text"}) == "SEND_MESSAGE"
    assert evolution_event("webhook.disabled", {}) is None
    assert wagate_types(["MESSAGES_UPSERT", "QRCODE_UPDATED", "CHATS_SET"]) == [
        "message.received",
        "session.pairing_code",
        "session.qr",
    ]
    assert set(SOURCES) == set(EVENT_NAMES)


def test_by_events_puts_each_event_on_evolutions_path() -> None:
    shape = EvolutionFormat(events=frozenset(EVENT_NAMES), by_events=True)
    assert shape.url("https://n8n.test/hook/", "MESSAGES_UPSERT") == (
        "https://n8n.test/hook/messages-upsert"
    )
    assert shape.url("https://n8n.test/hook", "GROUP_PARTICIPANTS_UPDATE") == (
        "https://n8n.test/hook/group-participants-update"
    )
    assert EVERYTHING.url("https://n8n.test/hook", "MESSAGES_UPSERT") == "https://n8n.test/hook"


def test_an_event_not_asked_for_is_not_rendered() -> None:
    only_upserts = EvolutionFormat(events=frozenset({"MESSAGES_UPSERT"}))
    assert only_upserts.accepts("message.received", message())
    assert not only_upserts.accepts("message.sent", message())
    payload = {"type": "message.sent", "timestamp": None, "data": message()}
    assert only_upserts.render(payload, INSTANCE, destination="x", server_url=None) is None


def test_receipts_edits_deletes_presence_calls_and_groups() -> None:
    receipt = posted(
        {"message_id": "msg_1", "wa_message_id": "3EB0A", "chat_id": CHAT, "status": "delivered"},
        "message.status",
    )
    assert receipt["event"] == "messages.update"
    assert receipt["data"]["status"] == "DELIVERY_ACK"
    assert read_back_receipt(receipt) == ("3EB0A", "delivered")
    edited = posted(
        message(text="new words", change="edited", edited_at="2026-01-05T12:00:00Z"),
        "message.updated",
    )
    assert edited["event"] == "messages.edited"
    assert edited["data"]["editedMessage"] == {"conversation": "new words"}
    deleted = posted(message(change="revoked"), "message.updated")
    assert deleted["event"] == "messages.delete"
    assert deleted["data"]["status"] == "DELETED"
    typing = posted({"chat_id": CHAT, "participant": None, "state": "composing"}, "presence")
    assert typing["data"] == {"id": CHAT, "presences": {CHAT: {"lastKnownPresence": "composing"}}}
    call = posted(
        {"call_id": "C1", "from": CHAT, "video": True, "timestamp": "2026-01-05T11:59:00Z"},
        "call",
    )
    assert (call["event"], call["data"]["isVideo"], call["data"]["status"]) == (
        "call",
        True,
        "offer",
    )
    joined = posted(
        {"group": "1203@g.us", "change": "joined", "participants": [CHAT], "by": None},
        "group.participants",
    )
    assert joined["event"] == "group-participants.update"
    assert joined["data"]["action"] == "add"
    renamed = posted(
        {"group": "1203@g.us", "change": "subject", "value": "Team", "by": CHAT}, "group.updated"
    )
    assert (renamed["event"], renamed["data"]) == (
        "groups.update",
        [{"id": "1203@g.us", "author": CHAT, "subject": "Team"}],
    )


def read_back_receipt(body: dict[str, Any]) -> tuple[str, str]:
    result = normalize_evolution_payload(body, received_at=NOW)
    found = [e for e in result.events if isinstance(e, ReceiptReceived)]
    assert len(found) == 1, result
    return found[0].wa_message_ids[0], found[0].status.value


def test_connection_states() -> None:
    opened = posted({"status": "connected", "phone": "5511900000000"}, "session.status")
    assert opened["data"]["state"] == "open"
    assert opened["data"]["statusReason"] == 200
    assert opened["data"]["wuid"] == "5511900000000@s.whatsapp.net"
    gone = posted({"status": "logged_out", "phone": "5511900000000"}, "session.status")
    assert (gone["data"]["state"], gone["data"]["statusReason"]) == ("close", 401)
