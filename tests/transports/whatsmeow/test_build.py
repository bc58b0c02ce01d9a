"""Every outbound type of the contract, checked as the waE2E protobuf the builder makes."""

from __future__ import annotations

import pytest
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from wagate.domain import (
    ContactCard,
    Jid,
    Location,
    MessageType,
    OutgoingMedia,
    OutgoingMessage,
    Poll,
    Reaction,
)
from wagate.transports.whatsmeow.build import (
    BuildError,
    KnownMessage,
    Uploaded,
    build_media,
    build_non_media,
    parse_jid,
    vcard,
)
from wagate.transports.whatsmeow.normalize import text_of

TO = Jid("5511988887777@s.whatsapp.net")
GROUP = Jid("120363000000000001@g.us")
UPLOADED = Uploaded(
    url="https://mmg.invalid/x",
    direct_path="/v/t62/x",
    media_key=b"k" * 32,
    file_enc_sha256=b"e" * 32,
    file_sha256=b"s" * 32,
    file_length=1234,
)


def outgoing(type: MessageType, to: Jid = TO, **fields: object) -> OutgoingMessage:
    return OutgoingMessage(message_id="msg_1", wa_message_id="", to=to, type=type, **fields)  # type: ignore[arg-type]


def test_plain_text_is_a_conversation() -> None:
    message = build_non_media(outgoing(MessageType.TEXT, text="hello"))
    assert message == e2e.Message(conversation="hello")


def test_reply_quotes_the_known_message() -> None:
    quoted = KnownMessage(sender=TO, from_me=False, message=e2e.Message(conversation="question?"))
    message = build_non_media(
        outgoing(MessageType.TEXT, text="answer", reply_to="3A0Q"), quoted=quoted
    )
    ext = message.extendedTextMessage
    assert ext.text == "answer"
    assert (ext.contextInfo.stanzaID, ext.contextInfo.participant) == ("3A0Q", TO)
    assert ext.contextInfo.quotedMessage.conversation == "question?"


def test_reply_to_an_unknown_message_still_names_it() -> None:
    message = build_non_media(outgoing(MessageType.TEXT, text="re", reply_to="3A0UNKNOWN"))
    context = message.extendedTextMessage.contextInfo
    assert (context.stanzaID, context.participant) == ("3A0UNKNOWN", TO)
    assert context.HasField("quotedMessage")


@pytest.mark.parametrize(
    ("type", "field"),
    [
        (MessageType.IMAGE, "imageMessage"),
        (MessageType.VIDEO, "videoMessage"),
        (MessageType.AUDIO, "audioMessage"),
        (MessageType.DOCUMENT, "documentMessage"),
        (MessageType.STICKER, "stickerMessage"),
    ],
)
def test_media_points_at_the_upload(type: MessageType, field: str) -> None:
    media = OutgoingMedia(data=b"x", mime_type="application/octet-stream", file_name="f.bin")
    message = build_media(
        outgoing(type, media=media, text="caption" if type is not MessageType.STICKER else None),
        UPLOADED,
        mime_type="image/webp" if type is MessageType.STICKER else "application/octet-stream",
        now_s=1_767_614_400,
    )
    part = getattr(message, field)
    assert (part.URL, part.directPath, part.fileLength) == (
        "https://mmg.invalid/x",
        "/v/t62/x",
        1234,
    )
    assert (part.mediaKey, part.fileEncSHA256, part.fileSHA256) == (b"k" * 32, b"e" * 32, b"s" * 32)
    assert part.mediaKeyTimestamp == 1_767_614_400
    if type in (MessageType.IMAGE, MessageType.VIDEO, MessageType.DOCUMENT):
        assert part.caption == "caption"
    if type is MessageType.DOCUMENT:
        assert (part.fileName, part.title) == ("f.bin", "f.bin")
    if type is MessageType.AUDIO:
        assert part.PTT is False


def test_voice_note_is_push_to_talk_with_its_duration() -> None:
    media = OutgoingMedia(data=b"ogg", mime_type="audio/ogg; codecs=opus")
    message = build_media(
        outgoing(MessageType.VOICE, media=media),
        UPLOADED,
        mime_type="audio/ogg; codecs=opus",
        seconds=3.4,
    )
    audio = message.audioMessage
    assert (audio.PTT, audio.seconds, audio.mimetype) == (True, 3, "audio/ogg; codecs=opus")


def test_media_reply_has_context() -> None:
    media = OutgoingMedia(data=b"x", mime_type="image/jpeg")
    message = build_media(
        outgoing(MessageType.IMAGE, media=media, reply_to="3A0Q"), UPLOADED, mime_type="image/jpeg"
    )
    assert message.imageMessage.contextInfo.stanzaID == "3A0Q"


def test_location() -> None:
    loc = Location(latitude=-23.56, longitude=-46.65, name="MASP", address="Av. Paulista 1578")
    message = build_non_media(outgoing(MessageType.LOCATION, location=loc))
    got = message.locationMessage
    assert (got.degreesLatitude, got.degreesLongitude) == (-23.56, -46.65)
    assert (got.name, got.address) == ("MASP", "Av. Paulista 1578")


def test_contact_is_a_vcard_with_its_whatsapp_id() -> None:
    card = ContactCard(name="Ana; Souza", phone="+55 11 97777-6666")
    message = build_non_media(outgoing(MessageType.CONTACT, contact=card))
    contact = message.contactMessage
    assert contact.displayName == "Ana; Souza"
    assert contact.vcard == vcard(card)
    assert "FN:Ana\\; Souza\n" in contact.vcard
    assert "TEL;type=CELL;type=VOICE;waid=5511977776666:+5511977776666" in contact.vcard


def test_reaction_to_our_own_message() -> None:
    target = KnownMessage(sender=None, from_me=True)
    message = build_non_media(
        outgoing(MessageType.REACTION, reaction=Reaction(message_id="3EB0MINE", emoji="❤️")),
        target=target,
        now_ms=1_767_614_400_000,
    )
    reaction = message.reactionMessage
    assert (reaction.key.remoteJID, reaction.key.fromMe, reaction.key.ID) == (TO, True, "3EB0MINE")
    assert (reaction.text, reaction.senderTimestampMS) == ("❤️", 1_767_614_400_000)


def test_reaction_in_a_group_names_the_author_and_removal_is_empty() -> None:
    target = KnownMessage(sender="123456789012345@lid", from_me=False)
    message = build_non_media(
        outgoing(
            MessageType.REACTION, to=GROUP, reaction=Reaction(message_id="3A0THEIRS", emoji=None)
        ),
        target=target,
    )
    key = message.reactionMessage.key
    assert (key.fromMe, key.participant) == (False, "123456789012345@lid")
    assert message.reactionMessage.text == ""


def test_types_without_a_builder_are_refused() -> None:
    with pytest.raises(BuildError):
        build_non_media(outgoing(MessageType.INTERACTIVE, text="x"))
    with pytest.raises(BuildError):
        build_non_media(outgoing(MessageType.TEXT, text=""))


def test_parse_jid_fills_neonizes_required_fields() -> None:
    jid = parse_jid("5511988887777:12@s.whatsapp.net")
    assert (jid.User, jid.Device, jid.Server) == ("5511988887777", 12, "s.whatsapp.net")
    assert jid.SerializeToString()  # all required fields are set
    with pytest.raises(BuildError):
        parse_jid("not-a-jid")


def test_an_edit_is_whatsmeows_message_edit_protocol_message() -> None:
    message = build_non_media(
        outgoing(MessageType.EDIT, text="new text", target="3EB0ABC"), now_ms=1_700_000_000_000
    )
    protocol = message.editedMessage.message.protocolMessage
    assert protocol.type == e2e.ProtocolMessage.MESSAGE_EDIT
    assert (protocol.key.remoteJID, protocol.key.fromMe, protocol.key.ID) == (TO, True, "3EB0ABC")
    assert protocol.editedMessage.conversation == "new text"
    assert protocol.timestampMS == 1_700_000_000_000
    # and it reads back as the edit the inbound side understands
    assert text_of(protocol.editedMessage) == "new text"


def test_a_revoke_deletes_our_message_for_everyone() -> None:
    message = build_non_media(outgoing(MessageType.REVOKE, to=GROUP, target="3EB0ABC"))
    protocol = message.protocolMessage
    assert message.HasField("protocolMessage")
    assert protocol.type == e2e.ProtocolMessage.REVOKE
    assert (protocol.key.remoteJID, protocol.key.fromMe, protocol.key.ID) == (
        GROUP,
        True,
        "3EB0ABC",
    )


def test_a_change_without_its_target_is_refused() -> None:
    with pytest.raises(BuildError):
        build_non_media(outgoing(MessageType.EDIT, text="x"))
    with pytest.raises(BuildError):
        build_non_media(outgoing(MessageType.REVOKE))


def test_a_poll_carries_its_options_and_the_secret_its_votes_are_encrypted_with() -> None:
    poll = Poll(name="Lunch?", options=["Pizza", "Sushi"], selectable_count=1)
    message = build_non_media(outgoing(MessageType.POLL, to=GROUP, poll=poll), secret=b"s" * 32)
    assert message.pollCreationMessage.name == "Lunch?"
    assert [o.optionName for o in message.pollCreationMessage.options] == ["Pizza", "Sushi"]
    assert message.pollCreationMessage.selectableOptionsCount == 1
    assert message.messageContextInfo.messageSecret == b"s" * 32
