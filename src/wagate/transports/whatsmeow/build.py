"""OutgoingMessage -> the ``waE2E.Message`` protobuf whatsmeow sends. Pure functions.

Runs in the engine host only (it imports neonize's generated protobufs, and
importing anything under ``neonize`` loads the Go library). Everything the
builder cannot know by itself is passed in: the upload's keys for media, the
voice note's duration, what the host remembers of a quoted or reacted-to
message, and the time for a reaction's timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neonize.proto.Neonize_pb2 import JID
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    ContactMessage,
    ContextInfo,
    ExtendedTextMessage,
    FutureProofMessage,
    LocationMessage,
    Message,
    MessageContextInfo,
    PollCreationMessage,
    ProtocolMessage,
    ReactionMessage,
)

from wagate.domain import MessageType, OutgoingMessage, is_group
from wagate.domain.vcard import vcard

# whatsmeow's MediaType numbering, as neonize's Upload takes it
MEDIA_IMAGE = 0
MEDIA_VIDEO = 1
MEDIA_AUDIO = 2
MEDIA_DOCUMENT = 3

UPLOAD_KIND = {
    MessageType.IMAGE: MEDIA_IMAGE,
    MessageType.STICKER: MEDIA_IMAGE,
    MessageType.VIDEO: MEDIA_VIDEO,
    MessageType.AUDIO: MEDIA_AUDIO,
    MessageType.VOICE: MEDIA_AUDIO,
    MessageType.DOCUMENT: MEDIA_DOCUMENT,
}


class BuildError(ValueError):
    """The message cannot be expressed as a WhatsApp protobuf (a caller error)."""


@dataclass(frozen=True, slots=True)
class Uploaded:
    """What the media server gave back for an upload (whatsmeow's UploadResponse)."""

    url: str
    direct_path: str
    media_key: bytes
    file_enc_sha256: bytes
    file_sha256: bytes
    file_length: int


@dataclass(frozen=True, slots=True)
class KnownMessage:
    """What the host remembers of a message it sent or received (for replies, reactions)."""

    sender: str | None  # the author's JID (a group participant, or the chat partner)
    from_me: bool
    message: Message | None = None


def parse_jid(value: str) -> JID:
    """``user[:device]@server`` -> neonize's JID protobuf (all its required fields set)."""
    user, sep, server = value.partition("@")
    if not sep or not server:
        raise BuildError(f"{value!r} is not a JID")
    device = 0
    if ":" in user:
        user, _, dev = user.partition(":")
        device = int(dev) if dev.isdigit() else 0
    return JID(User=user, Server=server, Device=device, RawAgent=0, Integrator=0, IsEmpty=False)


def jid_string(jid: JID) -> str:
    """The JID as text, without the device part."""
    if not jid.User:
        return str(jid.Server)
    return f"{jid.User}@{jid.Server}"


def _context(msg: OutgoingMessage, quoted: KnownMessage | None) -> ContextInfo | None:
    if not msg.reply_to:
        return None
    context = ContextInfo(stanzaID=msg.reply_to)
    participant = quoted.sender if quoted and quoted.sender else None
    if participant is None and not is_group(msg.to):
        participant = msg.to  # in a direct chat the other person wrote it unless we did
    if participant:
        context.participant = participant
    context.quotedMessage.CopyFrom(
        quoted.message if quoted and quoted.message else Message(conversation="")
    )
    return context


def build_text(msg: OutgoingMessage, quoted: KnownMessage | None = None) -> Message:
    if not msg.text:
        raise BuildError("a text message needs text")
    context = _context(msg, quoted)
    if context is None:
        return Message(conversation=msg.text)
    return Message(extendedTextMessage=ExtendedTextMessage(text=msg.text, contextInfo=context))


def _fill(
    part: Any,  # one of the media sub-messages: they share these fields
    uploaded: Uploaded,
    mime_type: str,
    now_s: int,
    context: ContextInfo | None,
) -> None:
    part.URL = uploaded.url
    part.directPath = uploaded.direct_path
    part.mediaKey = uploaded.media_key
    part.fileEncSHA256 = uploaded.file_enc_sha256
    part.fileSHA256 = uploaded.file_sha256
    part.fileLength = uploaded.file_length
    part.mimetype = mime_type
    part.mediaKeyTimestamp = now_s
    if context is not None:
        part.contextInfo.CopyFrom(context)


def build_media(
    msg: OutgoingMessage,
    uploaded: Uploaded,
    *,
    mime_type: str,
    seconds: float | None = None,
    now_s: int = 0,
    quoted: KnownMessage | None = None,
) -> Message:
    """A media message pointing at an upload (image, video, audio, voice, document, sticker)."""
    context = _context(msg, quoted)
    caption = msg.text or None
    result = Message()
    part: Any
    match msg.type:
        case MessageType.IMAGE:
            part = result.imageMessage
            if caption:
                part.caption = caption
        case MessageType.VIDEO:
            part = result.videoMessage
            if caption:
                part.caption = caption
            if seconds is not None:
                part.seconds = round(seconds)
        case MessageType.AUDIO | MessageType.VOICE:
            part = result.audioMessage
            part.PTT = msg.type is MessageType.VOICE
            if seconds is not None:
                part.seconds = max(1, round(seconds))
        case MessageType.DOCUMENT:
            part = result.documentMessage
            name = (msg.media.file_name if msg.media else None) or "file"
            part.fileName = name
            part.title = name
            if caption:
                part.caption = caption
        case MessageType.STICKER:
            part = result.stickerMessage
        case _:
            raise BuildError(f"{msg.type.value} is not a media type")
    _fill(part, uploaded, mime_type, now_s, context)
    return result


def build_location(msg: OutgoingMessage, quoted: KnownMessage | None = None) -> Message:
    if msg.location is None:
        raise BuildError("a location message needs a location")
    loc = msg.location
    location = LocationMessage(degreesLatitude=loc.latitude, degreesLongitude=loc.longitude)
    if loc.name:
        location.name = loc.name
    if loc.address:
        location.address = loc.address
    context = _context(msg, quoted)
    if context is not None:
        location.contextInfo.CopyFrom(context)
    return Message(locationMessage=location)


def build_contact(msg: OutgoingMessage, quoted: KnownMessage | None = None) -> Message:
    if msg.contact is None:
        raise BuildError("a contact message needs a contact")
    contact = ContactMessage(displayName=msg.contact.name, vcard=vcard(msg.contact))
    context = _context(msg, quoted)
    if context is not None:
        contact.contextInfo.CopyFrom(context)
    return Message(contactMessage=contact)


def build_reaction(msg: OutgoingMessage, target: KnownMessage | None, now_ms: int) -> Message:
    """A reaction to ``msg.reaction.message_id``; an empty emoji removes ours."""
    if msg.reaction is None:
        raise BuildError("a reaction message needs a reaction")
    from_me = target.from_me if target else False
    key = MessageKey(remoteJID=msg.to, fromMe=from_me, ID=msg.reaction.message_id)
    if is_group(msg.to) and not from_me and target and target.sender:
        key.participant = target.sender
    return Message(
        reactionMessage=ReactionMessage(
            key=key, text=msg.reaction.emoji or "", senderTimestampMS=now_ms
        )
    )


def build_edit(msg: OutgoingMessage, now_ms: int) -> Message:
    """New text for our message ``msg.target``, as whatsmeow's ``BuildEdit`` wraps it: a
    protocol message of type MESSAGE_EDIT inside ``editedMessage``."""
    if not msg.target or not msg.text:
        raise BuildError("an edit needs the id of the message it changes and a text")
    protocol = ProtocolMessage(
        key=MessageKey(remoteJID=msg.to, fromMe=True, ID=msg.target),
        type=ProtocolMessage.MESSAGE_EDIT,
        editedMessage=Message(conversation=msg.text),
        timestampMS=now_ms,
    )
    return Message(editedMessage=FutureProofMessage(message=Message(protocolMessage=protocol)))


def build_revoke(msg: OutgoingMessage) -> Message:
    """Delete our message ``msg.target`` for everyone, as whatsmeow's ``BuildRevoke``."""
    if not msg.target:
        raise BuildError("a revoke needs the id of the message it deletes")
    key = MessageKey(remoteJID=msg.to, fromMe=True, ID=msg.target)
    return Message(protocolMessage=ProtocolMessage(key=key, type=ProtocolMessage.REVOKE))


def build_poll(msg: OutgoingMessage, secret: bytes) -> Message:
    """A poll, as whatsmeow's ``BuildPollCreation`` makes it. ``secret`` (32 random bytes)
    is the key votes are encrypted with: whatsmeow keeps it when the poll is sent, and
    decrypts the votes with it."""
    if msg.poll is None:
        raise BuildError("a poll message needs a poll")
    poll = PollCreationMessage(
        name=msg.poll.name,
        options=[PollCreationMessage.Option(optionName=name) for name in msg.poll.options],
        selectableOptionsCount=msg.poll.selectable_count,
    )
    return Message(
        pollCreationMessage=poll, messageContextInfo=MessageContextInfo(messageSecret=secret)
    )


def build_non_media(
    msg: OutgoingMessage,
    *,
    quoted: KnownMessage | None = None,
    target: KnownMessage | None = None,
    now_ms: int = 0,
    secret: bytes = b"",
) -> Message:
    """Every type that needs no upload."""
    match msg.type:
        case MessageType.TEXT:
            return build_text(msg, quoted)
        case MessageType.LOCATION:
            return build_location(msg, quoted)
        case MessageType.CONTACT:
            return build_contact(msg, quoted)
        case MessageType.REACTION:
            return build_reaction(msg, target, now_ms)
        case MessageType.POLL:
            return build_poll(msg, secret)
        case MessageType.EDIT:
            return build_edit(msg, now_ms)
        case MessageType.REVOKE:
            return build_revoke(msg)
    raise BuildError(f"type {msg.type.value!r} cannot be sent by whatsmeow")
