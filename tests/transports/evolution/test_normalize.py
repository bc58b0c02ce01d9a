"""Golden Evolution API payloads -> normalized events, one test per shape the issue lists."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wagate.domain import (
    CallReceived,
    ChatType,
    Connected,
    ContactCard,
    Disconnected,
    IdentityLearned,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    MessageStatus,
    MessageType,
    PresenceChanged,
    PresenceState,
    QrUpdated,
    ReceiptReceived,
    TransportEvent,
    UnknownEventType,
    Unparseable,
)
from wagate.transports.evolution import normalize_evolution_payload

PAYLOADS = Path(__file__).parent / "payloads"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SENT_AT = datetime(2026, 1, 5, 11, 59, tzinfo=UTC)  # data.messageTimestamp, not date_time
PHONE = "5511988887777"
PHONE_JID = f"{PHONE}@s.whatsapp.net"
LID = "187654321098765@lid"
GROUP = "120363041234567890@g.us"
OWNER = "5511900000000"
FILE = b"\x89PNG fake image bytes"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((PAYLOADS / f"{name}.json").read_text()))


def events(name: str, **kwargs: Any) -> list[TransportEvent]:
    result = normalize_evolution_payload(load(name), received_at=NOW, **kwargs)
    assert result.handled
    return result.events


def received(name: str) -> MessageReceived:
    found = [e for e in events(name) if isinstance(e, MessageReceived)]
    assert len(found) == 1, events(name)
    return found[0]


def test_every_golden_payload_has_a_test() -> None:
    source = Path(__file__).read_text()
    missing = [p.stem for p in PAYLOADS.glob("*.json") if f'"{p.stem}"' not in source]
    assert missing == []


# --------------------------------------------------------------------------- envelope, text


def test_conversation_uses_message_timestamp_not_date_time() -> None:
    message = received("text_conversation").message
    assert message.wa_message_id == "3EB0TEXT0001"
    assert message.type is MessageType.TEXT
    assert message.text == "hello there"
    assert message.timestamp == SENT_AT
    assert message.chat_id == PHONE_JID
    assert message.chat_type is ChatType.DIRECT
    assert message.sender == PHONE_JID
    assert message.sender_phone == PHONE
    assert message.sender_lid is None
    assert message.push_name == "Ana"
    assert message.from_me is False
    assert message.reply_to is None


def test_extended_text_before_2_2_keeps_its_context_inside() -> None:
    message = received("text_extended_pre22").message
    assert (message.type, message.text) == (MessageType.TEXT, "replying")
    assert message.reply_to == "3EB0QUOTED0001"


def test_context_lifted_to_data_in_2_2() -> None:
    message = received("reply_context_lifted").message
    assert message.text == "replying, 2.2 style"
    assert message.reply_to == "3EB0QUOTED0001"


@pytest.mark.parametrize(
    "name",
    ["timestamp_string", "image_byte_objects"],
)
def test_64_bit_timestamps_as_strings_and_long_objects(name: str) -> None:
    assert received(name).message.timestamp == SENT_AT


# --------------------------------------------------------------------------- @lid variants


@pytest.mark.parametrize(
    "name",
    [
        "lid_senderpn_previous",
        "lid_senderpn_unrewritten",
        "lid_alt_lid_mode",
        "lid_alt_pn_mode",
    ],
)
def test_lid_variants_with_a_phone_use_the_phone_jid(name: str) -> None:
    found = events(name)
    message = next(e for e in found if isinstance(e, MessageReceived)).message
    assert message.chat_id == PHONE_JID
    assert message.sender == PHONE_JID
    assert message.sender_phone == PHONE
    assert message.sender_lid == LID
    assert IdentityLearned(phone=PHONE, lid=LID, push_name="Ana") in found


def test_lid_rewritten_into_remote_jid_2_3_3() -> None:
    found = events("lid_rewritten")
    message = received("lid_rewritten").message
    assert (message.chat_id, message.sender_phone, message.sender_lid) == (PHONE_JID, PHONE, None)
    assert not any(isinstance(e, IdentityLearned) for e in found)


def test_lid_only_when_no_phone_is_known() -> None:
    message = received("lid_only").message
    assert message.chat_id == LID
    assert message.sender == LID
    assert (message.sender_phone, message.sender_lid) == (None, LID)


def test_group_with_phone_participant() -> None:
    message = received("group_phone_participant").message
    assert (message.chat_id, message.chat_type) == (GROUP, ChatType.GROUP)
    assert (message.sender, message.sender_phone) == (PHONE_JID, PHONE)


def test_group_with_lid_participant_and_alt() -> None:
    found = events("group_participant_alt")
    message = received("group_participant_alt").message
    assert message.chat_id == GROUP
    assert (message.sender, message.sender_phone, message.sender_lid) == (PHONE_JID, PHONE, LID)
    assert IdentityLearned(phone=PHONE, lid=LID, push_name="Ana") in found


# --------------------------------------------------------------------------- from me


def test_from_me_typed_on_the_phone() -> None:
    message = received("from_me_phone").message
    assert message.from_me is True
    assert message.chat_id == PHONE_JID
    assert message.sender == f"{OWNER}@s.whatsapp.net"  # the envelope's sender: the owner
    assert message.sender_phone == OWNER
    assert message.push_name is None


def test_from_me_in_a_group_without_envelope_sender_uses_the_session_phone() -> None:
    payload = load("from_me_group")
    del payload["sender"]
    result = normalize_evolution_payload(payload, received_at=NOW, own_phone="5511911112222")
    message = next(e for e in result.events if isinstance(e, MessageReceived)).message
    assert (message.from_me, message.chat_id) == (True, GROUP)
    assert message.sender == "5511911112222@s.whatsapp.net"


def test_from_me_group_with_envelope_sender() -> None:
    message = received("from_me_group").message
    assert message.sender_phone == OWNER


# --------------------------------------------------------------------------- media


def test_image_with_inline_base64_bytes() -> None:
    event = received("image_inline_base64")
    message = event.message
    assert (message.type, message.text) == (MessageType.IMAGE, "look at this")
    assert message.media is not None
    assert message.media.mime_type == "image/jpeg"
    assert message.media.size == len(FILE)
    assert message.media.sha256 == hashlib.sha256(FILE).hexdigest()
    assert event.media is not None
    assert (event.media.data, event.media.mime_type) == (FILE, "image/jpeg")


def test_byte_fields_as_index_objects_and_long_file_length() -> None:
    event = received("image_byte_objects")
    assert event.message.media is not None
    assert event.message.media.size == len(FILE)
    assert event.message.media.sha256 == hashlib.sha256(FILE).hexdigest()
    assert event.media is None  # no inline bytes: metadata only


@pytest.mark.parametrize(
    ("name", "kind", "mime", "text", "voice"),
    [
        ("video", MessageType.VIDEO, "video/mp4", "clip", False),
        ("audio", MessageType.AUDIO, "audio/mpeg", None, False),
        ("voice_ptt", MessageType.VOICE, "audio/ogg; codecs=opus", None, True),
        ("document", MessageType.DOCUMENT, "application/pdf", None, False),
        ("document_with_caption", MessageType.DOCUMENT, "application/pdf", "your invoice", False),
        ("sticker", MessageType.STICKER, "image/webp", None, False),
        ("view_once_v2", MessageType.IMAGE, "image/jpeg", "once", False),
    ],
)
def test_media_kinds(
    name: str, kind: MessageType, mime: str, text: str | None, voice: bool
) -> None:
    message = received(name).message
    assert message.type is kind
    assert message.text == text
    assert message.media is not None
    assert (message.media.mime_type, message.media.voice) == (mime, voice)


def test_document_file_names() -> None:
    plain = received("document").message.media
    assert plain is not None
    assert plain.file_name == "report.pdf"
    doc = received("document_with_caption").message.media
    assert doc is not None
    assert (doc.file_name, doc.size) == ("invoice.pdf", 1024)


# --------------------------------------------------------------------------- other kinds


def test_location() -> None:
    message = received("location").message
    assert message.type is MessageType.LOCATION
    assert message.location is not None
    assert (message.location.latitude, message.location.longitude) == (-23.5505, -46.6333)
    assert (message.location.name, message.location.address) == ("Praça da Sé", "São Paulo")


def test_contact_card_phone_from_waid() -> None:
    message = received("contact").message
    assert message.type is MessageType.CONTACTS
    assert message.contacts == [ContactCard(name="Bruno", phone="5511977776666")]


def test_contacts_array_phone_from_tel_line() -> None:
    message = received("contacts_array").message
    assert message.contacts == [
        ContactCard(name="Bruno", phone="5511977776666"),
        ContactCard(name="Carla", phone="5521966665555"),
    ]


def test_reaction_and_its_removal() -> None:
    added = received("reaction").message
    assert added.type is MessageType.REACTION
    assert added.reaction is not None
    assert (added.reaction.message_id, added.reaction.emoji) == ("3EB0TARGET01", "👍")
    removed = received("reaction_removed").message
    assert removed.reaction is not None
    assert (removed.reaction.message_id, removed.reaction.emoji) == ("3EB0TARGET01", None)


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("buttons_reply", "Yes, please"),
        ("list_reply", "Large pizza"),
        ("template_reply", "Track order"),
        ("interactive_reply", "Confirm"),
    ],
)
def test_interactive_replies(name: str, title: str) -> None:
    message = received(name).message
    assert (message.type, message.text) == (MessageType.INTERACTIVE, title)


def test_buttons_reply_quotes_the_buttons_message() -> None:
    assert received("buttons_reply").message.reply_to == "3EB0BUTTONS1"


def test_ephemeral_wrapper() -> None:
    message = received("ephemeral").message
    assert (message.type, message.text) == (MessageType.TEXT, "disappearing")


def test_view_once_stub_without_message_is_kept_as_unsupported() -> None:
    message = received("view_once_stub").message
    assert message.type is MessageType.UNSUPPORTED
    assert message.wa_message_id == "3EB0VOSTUB1"
    assert message.timestamp == SENT_AT


# --------------------------------------------------------------------------- edits and revokes


@pytest.mark.parametrize("name", ["protocol_revoke", "protocol_revoke_numeric", "messages_delete"])
def test_revokes_update_the_original(name: str) -> None:
    found = [e for e in events(name) if not isinstance(e, IdentityLearned)]
    assert len(found) == 1
    event = found[0]
    assert isinstance(event, MessageRevoked)
    assert event.revoke.target_wa_message_id == "3EB0TEXT0001"
    assert event.revoke.chat_id == PHONE_JID


@pytest.mark.parametrize(
    ("name", "text", "at"),
    [
        ("protocol_edit", "hello there (edited)", SENT_AT + timedelta(seconds=30)),
        ("edited_message_wrapper", "edited via wrapper", SENT_AT),
        ("messages_edited_event", "edited, 2.2 event", SENT_AT + timedelta(seconds=60)),
    ],
)
def test_edits_update_the_original(name: str, text: str, at: datetime) -> None:
    (event,) = events(name)
    assert isinstance(event, MessageEdited)
    assert event.edit.target_wa_message_id == "3EB0TEXT0001"
    assert (event.edit.chat_id, event.edit.text, event.edit.timestamp) == (PHONE_JID, text, at)


def test_edit_reported_as_a_message_update() -> None:
    (event,) = events("edit_by_update_baileys")
    assert isinstance(event, MessageEdited)
    assert event.edit.target_wa_message_id == "3EB0TEXT0001"
    assert (event.edit.chat_id, event.edit.text) == (PHONE_JID, "edited, Baileys update")


def test_status_broadcasts_are_not_conversations() -> None:
    assert events("status_broadcast") == []


# --------------------------------------------------------------------------- receipts


@pytest.mark.parametrize(
    ("name", "status", "chat", "at"),
    [
        ("receipt_delivered_v2", MessageStatus.DELIVERED, PHONE_JID, NOW),
        ("receipt_read_v2", MessageStatus.READ, LID, NOW),
        ("receipt_played_numeric_v1", MessageStatus.PLAYED, PHONE_JID, NOW + timedelta(seconds=30)),
        ("receipt_baileys_shape", MessageStatus.DELIVERED, PHONE_JID, NOW),
    ],
)
def test_receipts(name: str, status: MessageStatus, chat: str, at: datetime) -> None:
    assert events(name) == [ReceiptReceived(("3EB0SENT0001",), status, chat, at)]


def test_server_ack_is_not_a_receipt() -> None:
    assert events("receipt_server_ack") == []


# --------------------------------------------------------------------------- connection, presence


def test_connection_open() -> None:
    assert events("connection_open") == [Connected(OWNER, "Sales Team")]


def test_connection_close_keeps_the_status_reason() -> None:
    (event,) = events("connection_close_logged_out")
    assert isinstance(event, Disconnected)
    assert event.code == 401


def test_connection_connecting_waits() -> None:
    assert events("connection_connecting") == []


def test_connection_refused_is_a_qr_timeout() -> None:
    assert events("connection_refused") == [Disconnected(408, "qr_timeout")]


def test_qrcode_updated() -> None:
    (event,) = events("qrcode_updated")
    assert isinstance(event, QrUpdated)
    assert event.qr == "2@AbCdEf123,XyZ456=,Qwe789=,1"
    assert event.expires_at > NOW


def test_qrcode_limit_reached() -> None:
    assert events("qrcode_limit") == [Disconnected(408, "qr_timeout")]


def test_presence_update() -> None:
    assert events("presence_update") == [
        PresenceChanged(PHONE_JID, PHONE_JID, PresenceState.COMPOSING)
    ]


def test_call_offer() -> None:
    assert events("call_offer") == [CallReceived("CALL0001", PHONE_JID, True, SENT_AT)]


# --------------------------------------------------------------------------- names, junk


def test_unknown_event_is_not_handled() -> None:
    result = normalize_evolution_payload(load("unknown_event"), received_at=NOW)
    assert (result.handled, result.event) == (False, "labels.shuffle")
    assert result.events == [UnknownEventType("evolution", "labels.shuffle")]


def test_known_event_without_interest_is_ignored_quietly() -> None:
    result = normalize_evolution_payload(load("ignored_event"), received_at=NOW)
    assert (result.handled, result.events) == (True, [])


def test_upsert_without_key_is_dead_lettered() -> None:
    (event,) = events("upsert_without_key")
    assert isinstance(event, Unparseable)
    assert event.source == "evolution"
    assert "key" in event.reason
    assert "apikey" not in event.payload  # Evolution's key is not kept with the dead letter
    assert event.payload["instance"] == "sales"


@pytest.mark.parametrize("name", ["MESSAGES_UPSERT", "messages-upsert", "Messages.Upsert"])
def test_event_name_spellings(name: str) -> None:
    payload = load("text_conversation") | {"event": name}
    result = normalize_evolution_payload(payload, received_at=NOW)
    assert result.event == "messages.upsert"
    assert isinstance(result.events[0], MessageReceived)


def test_event_from_the_url_when_the_body_has_none() -> None:
    payload = load("text_conversation")
    del payload["event"]
    result = normalize_evolution_payload(payload, received_at=NOW, event="messages-upsert")
    assert isinstance(result.events[0], MessageReceived)


@pytest.mark.parametrize("payload", [[1, 2], "text", None])
def test_non_object_payload_is_dead_lettered(payload: Any) -> None:
    result = normalize_evolution_payload(payload, received_at=NOW)
    assert isinstance(result.events[0], Unparseable)


def test_a_list_of_messages_is_normalized_one_by_one() -> None:
    first, second = load("text_conversation")["data"], load("lid_rewritten")["data"]
    payload = load("text_conversation") | {"data": [first, {"junk": True}, second]}
    found = normalize_evolution_payload(payload, received_at=NOW).events
    kinds = [type(e) for e in found]
    assert kinds == [MessageReceived, Unparseable, MessageReceived]


def test_unknown_content_kind_is_unsupported_not_dropped() -> None:
    payload = load("text_conversation")
    payload["data"]["message"] = {"pollCreationMessageV3": {"name": "Lunch?", "options": []}}
    message = next(
        e
        for e in normalize_evolution_payload(payload, received_at=NOW).events
        if isinstance(e, MessageReceived)
    ).message
    assert message.type is MessageType.UNSUPPORTED


def test_malformed_media_base64_keeps_the_metadata() -> None:
    payload = load("image_inline_base64")
    payload["data"]["message"]["base64"] = "not base64!!"
    event = next(
        e
        for e in normalize_evolution_payload(payload, received_at=NOW).events
        if isinstance(e, MessageReceived)
    )
    assert event.media is None
    assert event.message.type is MessageType.IMAGE
