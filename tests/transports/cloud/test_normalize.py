"""Golden Cloud API notifications -> transport events (pure; no database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from wagate.domain import (
    ChatType,
    ContactCard,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    MessageStatus,
    MessageType,
    ReceiptReceived,
    TransportEvent,
    Unparseable,
)
from wagate.transports.cloud import media_id_of, normalize_notification

DATA = Path(__file__).parent / "data"
PHONE_ID = "106540352242922"
E = TypeVar("E")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return data


def events(name: str) -> list[TransportEvent]:
    routed = normalize_notification(load(name))
    assert {pid for pid, _ in routed} <= {PHONE_ID, "106540352242999"}
    return [event for _, event in routed]


def only(kind: type[E], items: list[TransportEvent]) -> list[E]:
    assert all(isinstance(e, kind) for e in items), items
    return [e for e in items if isinstance(e, kind)]


def received(name: str) -> list[MessageReceived]:
    return only(MessageReceived, events(name))


def test_every_message_of_a_change_is_read() -> None:
    first, second = received("text_two_messages")
    assert first.message.text == "Does it come in another color?"
    assert first.message.sender == "16505551234@s.whatsapp.net"
    assert first.message.chat_id == "16505551234@s.whatsapp.net"
    assert first.message.sender_phone == "16505551234"
    assert first.message.push_name == "Sheena Nelson"
    assert first.message.chat_type is ChatType.DIRECT
    assert first.message.from_me is False
    assert first.message.timestamp == datetime.fromtimestamp(1749416383, UTC)
    assert second.message.sender_phone == "5511988887777"
    assert second.message.push_name == "Bruno Costa"  # matched by wa_id, not position


def test_every_entry_and_change_is_read_and_routed() -> None:
    routed = normalize_notification(load("multi_entry"))
    assert [
        (pid, e.message.wa_message_id) for pid, e in routed if isinstance(e, MessageReceived)
    ] == [
        (PHONE_ID, "wamid.ENTRY1"),
        ("106540352242999", "wamid.ENTRY1B"),
        (PHONE_ID, "wamid.ENTRY2"),
    ]


def test_media_kinds() -> None:
    image, video, document, audio, voice, sticker = (e.message for e in received("media_kinds"))
    assert (image.type, image.text, image.media and image.media.mime_type) == (
        MessageType.IMAGE,
        "The blue one",
        "image/jpeg",
    )
    assert video.type is MessageType.VIDEO
    assert video.text is None
    assert document.type is MessageType.DOCUMENT
    assert document.text == "invoice"
    assert document.media is not None
    assert document.media.file_name == "invoice-42.pdf"
    assert audio.type is MessageType.AUDIO
    assert audio.media is not None
    assert not audio.media.voice
    assert voice.type is MessageType.VOICE
    assert voice.media is not None
    assert voice.media.voice
    assert sticker.type is MessageType.STICKER
    assert [media_id_of(m) for m in (image, video, document, audio, voice, sticker)] == [
        "1003383421387256",
        "1003383421387257",
        "1003383421387258",
        "1003383421387259",
        "1003383421387260",
        "1003383421387261",
    ]


def test_location_contacts_and_reply() -> None:
    location, contacts, reply = (e.message for e in received("location_contacts_reply"))
    assert location.type is MessageType.LOCATION
    assert location.location is not None
    assert (location.location.latitude, location.location.name) == (37.483307, "Philz Coffee")
    assert location.location.address == "1 Hacker Way, Menlo Park, CA 94025"
    assert contacts.type is MessageType.CONTACTS
    assert contacts.contacts == [ContactCard(name="Barbara J. Johnson", phone="14155550123")]
    assert reply.reply_to == "wamid.ORIGINAL"
    assert reply.text == "Yes, that one"
    assert media_id_of(reply) is None


def test_reactions_and_removals() -> None:
    react, empty, missing = (e.message for e in received("reactions"))
    assert react.type is MessageType.REACTION
    assert react.reaction is not None
    assert (react.reaction.message_id, react.reaction.emoji) == ("wamid.TARGET", "\U0001f44d")
    for removed in (empty, missing):
        assert removed.reaction is not None
        assert (removed.reaction.message_id, removed.reaction.emoji) == ("wamid.TARGET", None)


def test_interactive_and_button_replies_carry_the_title() -> None:
    replies = [e.message for e in received("interactive")]
    assert [(m.type, m.text, m.reply_to) for m in replies] == [
        (MessageType.INTERACTIVE, "Yes, please", "wamid.BUTTONS"),
        (MessageType.INTERACTIVE, "Express shipping", "wamid.LIST"),
        (MessageType.INTERACTIVE, "Stop promotions", "wamid.TEMPLATE"),
        (MessageType.INTERACTIVE, "Sent", "wamid.FLOW"),
    ]


def test_unsupported_and_unknown_types_are_kept() -> None:
    unsupported, order, no_text = (e.message for e in received("unsupported"))
    assert unsupported.type is MessageType.UNSUPPORTED
    assert unsupported.raw is not None
    assert unsupported.raw["errors"][0]["code"] == 131051
    assert order.type is MessageType.UNSUPPORTED
    assert order.wa_message_id == "wamid.ORDER"
    assert no_text.type is MessageType.UNSUPPORTED  # a text without its body


def test_users_known_only_by_business_scoped_id() -> None:
    maria, nameless = (e.message for e in received("bsuid_only"))
    assert maria.sender == "MX.7712340985512@bsuid"
    assert maria.chat_id == "MX.7712340985512@bsuid"
    assert maria.sender_phone is None
    assert maria.sender_lid is None
    assert maria.push_name == "Maria"
    assert nameless.sender == "US.1101@bsuid"
    assert nameless.push_name == "@nameless"  # the username when there is no profile name
    (kenji,) = (e.message for e in received("bsuid_contact_only"))
    assert (kenji.sender, kenji.push_name) == ("JP.99887766@bsuid", "Kenji")


def test_statuses_become_receipts() -> None:
    receipts = only(ReceiptReceived, events("statuses"))
    assert [(r.wa_message_ids, r.status, r.chat_id) for r in receipts] == [
        (("wamid.OUT1",), MessageStatus.SENT, "16505551234@s.whatsapp.net"),
        (("wamid.OUT1",), MessageStatus.DELIVERED, "16505551234@s.whatsapp.net"),
        (("wamid.OUT1",), MessageStatus.READ, "16505551234@s.whatsapp.net"),
        (("wamid.OUT2",), MessageStatus.PLAYED, "16505551234@s.whatsapp.net"),
        (("wamid.OUT3",), MessageStatus.SENT, "US.13491208655302741918@bsuid"),
    ]
    assert receipts[1].timestamp == datetime.fromtimestamp(1749417001, UTC)
    assert all(r.error_code is None for r in receipts)


@pytest.mark.parametrize(
    ("wa_id", "code"),
    [
        ("wamid.FAIL131047", "reengagement_window_closed"),
        ("wamid.FAIL131026", "undeliverable"),
        ("wamid.FAIL130429", "rate_limited"),
        ("wamid.FAIL131056", "pair_rate_limited"),
        ("wamid.FAILNOCODE", "send_failed"),
    ],
)
def test_failed_statuses_carry_the_mapped_code(wa_id: str, code: str) -> None:
    receipts = {r.wa_message_ids[0]: r for r in only(ReceiptReceived, events("failed_statuses"))}
    receipt = receipts[wa_id]
    assert receipt.status is MessageStatus.FAILED
    assert receipt.error_code == code
    assert receipt.error_message


def test_failed_status_message_keeps_meta_details() -> None:
    receipts = only(ReceiptReceived, events("failed_statuses"))
    assert receipts[0].error_message is not None
    assert "24 hours" in receipts[0].error_message
    assert "131047" in receipts[0].error_message


def test_error_only_notification_is_dead_lettered() -> None:
    (event,) = only(Unparseable, events("errors_only"))
    assert event.source == "cloud"
    assert "131000" in event.reason


def test_edits_revokes_and_group_messages() -> None:
    edit, revoke, group = events("edit_revoke_group")
    assert isinstance(edit, MessageEdited)
    assert (edit.edit.target_wa_message_id, edit.edit.text) == ("wamid.BEFORE", "fixed typo")
    assert isinstance(revoke, MessageRevoked)
    assert revoke.revoke.target_wa_message_id == "wamid.GONE"
    assert isinstance(group, MessageReceived)
    assert group.message.chat_id == "120363040000000001@g.us"
    assert group.message.chat_type is ChatType.GROUP
    assert group.message.sender == "16505551234@s.whatsapp.net"


def test_other_fields_carry_no_events() -> None:
    assert normalize_notification(load("other_fields")) == []


@pytest.mark.parametrize("payload", [[], "x", {"object": "page"}, {"entry": {}}])
def test_not_a_notification_raises(payload: Any) -> None:
    with pytest.raises(ValueError, match="entry"):
        normalize_notification(payload)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"from": "16505551234", "timestamp": "1", "type": "text"}, "id"),
        ({"from": "16505551234", "id": "wamid.X", "timestamp": "soon", "type": "text"}, "Unix"),
        ({"id": "wamid.X", "timestamp": "1", "type": "text"}, "sender"),
        ("not an object", "object"),
    ],
)
def test_broken_messages_are_unparseable(message: Any, reason: str) -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {"metadata": {"phone_number_id": PHONE_ID}, "messages": [message]},
                    }
                ],
            }
        ],
    }
    ((pid, event),) = normalize_notification(payload)
    assert pid == PHONE_ID
    assert isinstance(event, Unparseable)
    assert reason in event.reason


def test_change_without_phone_number_id_is_unroutable() -> None:
    payload = {"entry": [{"changes": [{"field": "messages", "value": {"statuses": []}}]}]}
    assert normalize_notification(payload) == []
    payload = {"entry": [{"changes": ["junk"]}, "junk"]}
    routed = normalize_notification(payload)
    assert [pid for pid, _ in routed] == ["", ""]
    assert all(isinstance(e, Unparseable) for _, e in routed)


def test_coexistence_echoes_are_from_me() -> None:
    text, image = (e.message for e in received("message_echoes"))
    assert text.from_me is True
    assert text.chat_id == "16505551234@s.whatsapp.net"
    assert text.sender == "15550783881@s.whatsapp.net"
    assert text.text == "Hi Sheena, Ana from the shop here"
    assert image.chat_id == "MX.7712340985512@bsuid"
    assert image.type is MessageType.IMAGE
    assert media_id_of(image) == "1003383421387299"
