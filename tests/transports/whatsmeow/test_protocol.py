"""The supervisor <-> engine host wire: frames, events, errors, outbound messages."""

from __future__ import annotations

import asyncio
import struct
from datetime import UTC, datetime

import pytest

from wagate.domain import (
    CallReceived,
    ChatType,
    Connected,
    ContactCard,
    CredentialsUpdated,
    DecryptFailed,
    Disconnected,
    IdentityLearned,
    InboundMedia,
    InboundMessage,
    Jid,
    Location,
    MediaInfo,
    MessageEdit,
    MessageEdited,
    MessageReceived,
    MessageRevoke,
    MessageRevoked,
    MessageStatus,
    MessageType,
    OutgoingMedia,
    OutgoingMessage,
    PairingCodeIssued,
    PermanentSendError,
    PresenceChanged,
    PresenceState,
    Reaction,
    ReceiptReceived,
    TransientSendError,
    TransportError,
    Unparseable,
    UnsupportedByTransport,
)
from wagate.transports.whatsmeow.protocol import (
    ProtocolError,
    RawQr,
    encode_frame,
    error_from_wire,
    error_to_wire,
    event_from_wire,
    event_to_wire,
    outgoing_from_wire,
    outgoing_to_wire,
    read_frame,
)

WHEN = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def reader_of(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_frames_round_trip_with_binary_blobs() -> None:
    data = encode_frame({"rid": 1, "op": "send"}, b"\x00\xffbytes") + encode_frame({"ok": True})
    reader = reader_of(data)
    first = await read_frame(reader)
    second = await read_frame(reader)
    assert first is not None
    assert second is not None
    assert (first.header, first.blob) == ({"rid": 1, "op": "send"}, b"\x00\xffbytes")
    assert (second.header, second.blob) == ({"ok": True}, b"")
    assert await read_frame(reader) is None  # clean end between frames


@pytest.mark.parametrize(
    "data",
    [
        encode_frame({"a": 1})[:-1],  # cut inside the header
        b"\x00\x00",  # cut inside the prefix
        struct.pack(">II", 4, 0) + b"nope",  # not JSON
        struct.pack(">II", 2, 0) + b"[]",  # not an object
        struct.pack(">II", 2**31, 0),  # absurd size
    ],
)
async def test_broken_frames_are_protocol_errors(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        await read_frame(reader_of(data))


INBOUND = InboundMessage(
    wa_message_id="3A01",
    chat_id="5511988887777@s.whatsapp.net",
    chat_type=ChatType.DIRECT,
    sender="5511988887777@s.whatsapp.net",
    sender_phone="5511988887777",
    sender_lid="123@lid",
    push_name="Maria",
    type=MessageType.IMAGE,
    text="look",
    media=MediaInfo(mime_type="image/png", size=3),
    reply_to="3A00",
    timestamp=WHEN,
)

EVENTS = [
    RawQr("2@abc", 1),
    PairingCodeIssued("ABCD-1234", "5511988887777"),
    CredentialsUpdated({"jid": "5511@s.whatsapp.net"}),
    CredentialsUpdated(None),
    Connected("5511900000001", "Owner", "99@lid"),
    Disconnected(401, "logged out"),
    MessageReceived(INBOUND, InboundMedia(b"\x89PNG", "image/png", "a.png")),
    MessageReceived(INBOUND.model_copy(update={"media": None, "type": MessageType.TEXT}), None),
    MessageEdited(MessageEdit("3A01", "5511@s.whatsapp.net", "new", WHEN)),
    MessageRevoked(MessageRevoke("3A01", "5511@s.whatsapp.net", WHEN)),
    ReceiptReceived(("3EB0A", "3EB0B"), MessageStatus.READ, "5511@s.whatsapp.net", WHEN),
    PresenceChanged("5511@s.whatsapp.net", "5511@s.whatsapp.net", PresenceState.RECORDING),
    CallReceived("CALL1", "5511@s.whatsapp.net", True, WHEN),
    IdentityLearned("5511988887777", "123@lid", "Maria"),
    DecryptFailed("5511@s.whatsapp.net", "bad_mac"),
    Unparseable("whatsmeow", "Message: no chat", {"event": "Message"}),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips(event: object) -> None:
    data, blob = event_to_wire(event)  # type: ignore[arg-type]
    assert event_from_wire(data, blob) == event


def test_unknown_event_type_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        event_from_wire({"type": "Surprise"}, b"")


@pytest.mark.parametrize(
    "error",
    [
        TransientSendError("later"),
        PermanentSendError("never", code="invalid_destination"),
        TransportError("down", code="not_connected"),
        UnsupportedByTransport("no"),
    ],
)
def test_errors_keep_their_class_and_code(error: Exception) -> None:
    back = error_from_wire(error_to_wire(error))
    assert type(back) is type(error)
    assert (back.code, back.message) == (error.code, error.message)  # type: ignore[attr-defined]


def test_unexpected_exceptions_become_transport_errors() -> None:
    back = error_from_wire(error_to_wire(KeyError("boom")))
    assert type(back) is TransportError
    assert back.code == "engine_error"


def test_outgoing_messages_round_trip() -> None:
    message = OutgoingMessage(
        message_id="msg_1",
        wa_message_id="",
        to=Jid("5511988887777@s.whatsapp.net"),
        type=MessageType.DOCUMENT,
        text="caption",
        media=OutgoingMedia(b"%PDF-1.7\x00", "application/pdf", "a.pdf"),
        location=Location(latitude=1, longitude=2),
        contact=ContactCard(name="Ana", phone="5511"),
        reaction=Reaction(message_id="3A", emoji="👍"),
        reply_to="3A00",
    )
    header, blob = outgoing_to_wire(message)
    assert blob == b"%PDF-1.7\x00"
    assert outgoing_from_wire(header, blob) == message
