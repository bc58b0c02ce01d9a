"""neonize events (protobufs) -> wagate's normalized events. Pure functions.

Where this runs, and why: in the engine host, not in the API process. The
parent must never load the Go library, and in neonize *any* import under the
``neonize`` package (even ``neonize.proto...``) runs ``neonize/__init__``, which
loads it. Decoding whatsmeow's protobufs therefore has to happen in the host,
and the host sends the parent plain JSON (:mod:`.protocol`). It also keeps
the host the only place that ever holds a media key: inbound media is
downloaded there at arrival, and only the bytes travel.

The rules for ids follow CONTRACT.md: a person's ``chat_id`` is their phone
JID whenever any phone number is known (whatsmeow gives the other address of
a person in ``SenderAlt``/``RecipientAlt``), their ``@lid`` JID only when
WhatsApp hid it; a group's is its ``@g.us`` JID. Content this module does not
know becomes ``type=unsupported`` (kept, never dropped); a message whose key
is unusable raises ``ValueError``, which the host reports as ``Unparseable``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from neonize.proto import Neonize_pb2 as neo
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ContextInfo, Message
from pydantic import ValidationError

from wagate.domain import (
    CallReceived,
    ChatType,
    ContactCard,
    DecryptFailed,
    Disconnected,
    IdentityLearned,
    InboundMessage,
    Location,
    MediaInfo,
    MessageEdit,
    MessageRevoke,
    MessageStatus,
    MessageType,
    PollVoted,
    PresenceChanged,
    PresenceState,
    Reaction,
    ReceiptReceived,
    TransportError,
    WagateError,
    is_group,
    is_lid,
    phone_jid,
    phone_of,
    split_jid,
)
from wagate.domain.groups import GroupChanged, GroupNotFound, NotGroupAdmin

Normalized = InboundMessage | MessageEdit | MessageRevoke

_WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
    "deviceSentMessage",
)
_MEDIA_FIELDS: dict[str, MessageType] = {
    "imageMessage": MessageType.IMAGE,
    "videoMessage": MessageType.VIDEO,
    "ptvMessage": MessageType.VIDEO,
    "audioMessage": MessageType.AUDIO,
    "documentMessage": MessageType.DOCUMENT,
    "stickerMessage": MessageType.STICKER,
}
_DEFAULT_MIME = {
    MessageType.IMAGE: "image/jpeg",
    MessageType.VIDEO: "video/mp4",
    MessageType.AUDIO: "audio/mpeg",
    MessageType.VOICE: "audio/ogg; codecs=opus",
    MessageType.DOCUMENT: "application/octet-stream",
    MessageType.STICKER: "image/webp",
}
# Present alongside real content, or alone in bookkeeping messages: never content.
_BOOKKEEPING = {"messageContextInfo", "senderKeyDistributionMessage"}
_WAID = re.compile(r"waid=(\d+)")
_TEL = re.compile(r"^TEL[^:]*:(.+)$", re.MULTILINE)


# --------------------------------------------------------------------------- JIDs


def jid_str(jid: neo.JID | None) -> str | None:
    """A JID as text without its device part; None when empty."""
    if jid is None or jid.IsEmpty or not jid.Server:
        return None
    if not jid.User:
        return None
    return f"{jid.User}@{jid.Server}"


@dataclass(frozen=True, slots=True)
class Person:
    phone: str | None  # digits
    lid: str | None  # the @lid JID

    @property
    def jid(self) -> str:
        """The phone JID when the phone is known, else the @lid JID."""
        if self.phone:
            return phone_jid(self.phone)
        return self.lid or ""


def person_of(*addresses: neo.JID | None) -> Person | None:
    """(phone, @lid) from a person's addresses; None when neither is usable."""
    texts = [t for t in (jid_str(a) for a in addresses) if t]
    phone = next((p for p in map(phone_of, texts) if p), None)
    lid = next((f"{split_jid(t)[0]}@lid" for t in texts if is_lid(t)), None)
    if phone is None and lid is None:
        return None
    return Person(phone, lid)


def _timestamp(value: int) -> datetime:
    seconds = value / 1000 if value > 10**11 else value  # tolerate milliseconds
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"impossible timestamp {value}") from None


@dataclass(frozen=True, slots=True)
class Own:
    """The session's own account, for ``from_me`` messages."""

    phone: str | None = None
    lid: str | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who and where, from a MessageSource."""

    chat_id: str
    chat_type: ChatType
    from_me: bool
    sender: str
    sender_phone: str | None
    sender_lid: str | None
    person: Person | None  # the other party: sender, or a from_me message's chat partner


def envelope(source: neo.MessageSource, own: Own) -> Envelope:
    chat = jid_str(source.Chat)
    if chat is None:
        raise ValueError("message source has no chat")
    from_me = source.IsFromMe
    if source.IsGroup or is_group(chat):
        person = person_of(source.Sender, source.SenderAlt)
        if person is None and not from_me:
            raise ValueError(f"group message in {chat} has no usable sender")
        chat_id, chat_type = chat, ChatType.GROUP
    else:
        if from_me:
            person = person_of(source.Chat, source.RecipientAlt)
        else:
            person = person_of(source.Sender, source.SenderAlt, source.Chat)
        if person is None:
            raise ValueError(f"{chat!r} is not a person or a group")
        chat_id, chat_type = person.jid, ChatType.DIRECT
    if from_me:
        sender_phone, sender_lid = own.phone, own.lid
    else:
        sender_phone = person.phone if person else None
        sender_lid = person.lid if person else None
    sender = phone_jid(sender_phone) if sender_phone else (sender_lid or chat)
    return Envelope(chat_id, chat_type, from_me, sender, sender_phone, sender_lid, person)


def identity_of(source: neo.MessageSource, push_name: str | None = None) -> IdentityLearned | None:
    """The phone/@lid pair a message or receipt reveals about its other party."""
    if source.IsFromMe and not source.IsGroup:
        person = person_of(source.Chat, source.RecipientAlt)
    else:
        person = person_of(source.Sender, source.SenderAlt)
    if person is None or person.phone is None or person.lid is None:
        return None
    name = push_name if push_name and not source.IsFromMe else None
    return IdentityLearned(phone=person.phone, lid=person.lid, push_name=name)


# --------------------------------------------------------------------------- message content


def unwrap(message: Message) -> Message:
    """The content inside ephemeral, view-once, document-with-caption and device-sent wrappers."""
    for _ in range(8):  # wrappers nest, but never deeply
        for name in _WRAPPERS:
            if message.HasField(name):
                inner = getattr(message, name)
                message = inner.message
                break
        else:
            return message
    return message


def content_fields(message: Message) -> list[str]:
    """The names of the content fields set in a message, bookkeeping left out."""
    return [fd.name for fd, _ in message.ListFields() if fd.name not in _BOOKKEEPING]


def media_part(message: Message) -> tuple[str, Any] | None:
    """The (field name, sub-message) of the downloadable attachment, if the message has one."""
    inner = unwrap(message)
    for name in _MEDIA_FIELDS:
        if inner.HasField(name):
            return name, getattr(inner, name)
    return None


def _context_of(part: Any) -> ContextInfo | None:
    if part is not None and hasattr(part, "contextInfo") and part.HasField("contextInfo"):
        context: ContextInfo = part.contextInfo
        return context
    return None


def _reply_to(part: Any) -> str | None:
    context = _context_of(part)
    if context is None or not context.stanzaID:
        return None
    return str(context.stanzaID)


def text_of(message: Message) -> str | None:
    """The text of a text message or the caption of a media message."""
    inner = unwrap(message)
    if inner.conversation:
        return str(inner.conversation)
    if inner.HasField("extendedTextMessage"):
        return str(inner.extendedTextMessage.text) or None
    for name in ("imageMessage", "videoMessage", "documentMessage"):
        if inner.HasField(name):
            caption: str = getattr(inner, name).caption
            return caption or None
    return None


def _contact_card(display_name: str, vcard: str) -> ContactCard:
    match = _WAID.search(vcard)
    phone = match.group(1) if match else None
    if phone is None:
        tel = _TEL.search(vcard)
        phone = "".join(ch for ch in tel.group(1) if ch.isdigit() or ch == "+") if tel else None
    name = display_name
    if not name:
        fn = re.search(r"^FN:(.+)$", vcard, re.MULTILINE)
        name = fn.group(1).strip() if fn else ""
    return ContactCard(name=name or (phone or "?"), phone=phone or "?")


Fields = tuple[MessageType, dict[str, Any]]


def _content(inner: Message) -> Fields | None:
    """The wagate type and fields of a message's content; None for unknown content."""
    if inner.conversation:
        return MessageType.TEXT, {"text": inner.conversation}
    if inner.HasField("extendedTextMessage"):
        ext = inner.extendedTextMessage
        return MessageType.TEXT, {"text": ext.text, "reply_to": _reply_to(ext)}
    for name, kind in _MEDIA_FIELDS.items():
        if inner.HasField(name):
            return _media(name, kind, getattr(inner, name))
    if inner.HasField("locationMessage"):
        loc = inner.locationMessage
        location = Location(
            latitude=loc.degreesLatitude,
            longitude=loc.degreesLongitude,
            name=loc.name or None,
            address=loc.address or None,
        )
        return MessageType.LOCATION, {"location": location, "reply_to": _reply_to(loc)}
    if inner.HasField("liveLocationMessage"):
        live = inner.liveLocationMessage
        location = Location(
            latitude=live.degreesLatitude,
            longitude=live.degreesLongitude,
            name=live.caption or None,
        )
        return MessageType.LOCATION, {"location": location}
    if inner.HasField("contactMessage"):
        card = inner.contactMessage
        return MessageType.CONTACTS, {
            "contacts": [_contact_card(card.displayName, card.vcard)],
            "reply_to": _reply_to(card),
        }
    if inner.HasField("contactsArrayMessage"):
        cards = [_contact_card(c.displayName, c.vcard) for c in inner.contactsArrayMessage.contacts]
        if not cards:
            return None
        return MessageType.CONTACTS, {"contacts": cards}
    if inner.HasField("reactionMessage"):
        reaction = inner.reactionMessage
        if not reaction.key.ID:
            return None
        return MessageType.REACTION, {
            "reaction": Reaction(message_id=reaction.key.ID, emoji=reaction.text or None)
        }
    return _interactive(inner)


def _media(name: str, kind: MessageType, part: Any) -> Fields:
    voice = name == "audioMessage" and bool(part.PTT)
    msg_type = MessageType.VOICE if voice else kind
    info = MediaInfo(
        mime_type=part.mimetype or _DEFAULT_MIME[msg_type],
        file_name=(part.fileName or None) if name == "documentMessage" else None,
        size=int(part.fileLength) if part.fileLength else None,
        voice=voice,
        sha256=part.fileSHA256.hex() if part.fileSHA256 else None,
    )
    caption = getattr(part, "caption", "") or None
    return msg_type, {"text": caption, "media": info, "reply_to": _reply_to(part)}


def _interactive(inner: Message) -> Fields | None:
    if inner.HasField("buttonsResponseMessage"):
        reply = inner.buttonsResponseMessage
        return MessageType.INTERACTIVE, {"text": reply.selectedDisplayText or None}
    if inner.HasField("templateButtonReplyMessage"):
        template = inner.templateButtonReplyMessage
        return MessageType.INTERACTIVE, {"text": template.selectedDisplayText or None}
    if inner.HasField("listResponseMessage"):
        return MessageType.INTERACTIVE, {"text": inner.listResponseMessage.title or None}
    if inner.HasField("interactiveResponseMessage"):
        body = inner.interactiveResponseMessage.body.text
        return MessageType.INTERACTIVE, {"text": body or None}
    return None


def _protocol(
    inner: Message, env: Envelope, timestamp: datetime
) -> MessageEdit | MessageRevoke | None:
    proto = inner.protocolMessage
    target = proto.key.ID
    if proto.type == proto.REVOKE and target:
        return MessageRevoke(target_wa_message_id=target, chat_id=env.chat_id, timestamp=timestamp)
    if proto.type == proto.MESSAGE_EDIT and target:
        text = text_of(proto.editedMessage) or ""
        return MessageEdit(
            target_wa_message_id=target, chat_id=env.chat_id, text=text, timestamp=timestamp
        )
    return None


_NOT_CHATS = ("broadcast", "newsletter")  # status updates, broadcast lists, channels


def is_chat(source: neo.MessageSource) -> bool:
    """Whether the message belongs to a person or a group (not a status update or channel)."""
    return source.Chat.Server not in _NOT_CHATS


def normalize_message(event: neo.Message, own: Own) -> Normalized | None:
    """One whatsmeow message event -> an inbound message, an edit, a revoke, or None.

    None means nothing to show: a bookkeeping message (key distribution,
    history-sync notices, app-state keys: whatsmeow handles those itself), or a
    status update, broadcast or channel post, which are not chats.
    """
    info = event.Info
    if not info.ID:
        raise ValueError("message event has no id")
    if not is_chat(info.MessageSource):
        return None
    env = envelope(info.MessageSource, own)
    timestamp = _timestamp(info.Timestamp)
    inner = unwrap(event.Message)
    if inner.HasField("protocolMessage"):
        return _protocol(inner, env, timestamp)
    fields = content_fields(inner)
    if not fields and inner.HasField("senderKeyDistributionMessage"):
        return None
    try:
        content = _content(inner)
    except (ValidationError, ValueError):
        content = None
    extra: dict[str, Any]
    if content is None:
        msg_type, extra = MessageType.UNSUPPORTED, {}
        raw: dict[str, Any] | None = {"content": fields, "id": info.ID}
    else:
        msg_type, extra = content
        raw = None
    extra = {k: v for k, v in extra.items() if v is not None}
    return InboundMessage(
        wa_message_id=info.ID,
        chat_id=env.chat_id,
        chat_type=env.chat_type,
        sender=env.sender,
        sender_phone=env.sender_phone,
        sender_lid=env.sender_lid,
        push_name=(info.Pushname or None) if not env.from_me else None,
        from_me=env.from_me,
        type=msg_type,
        timestamp=timestamp,
        raw=raw,
        **extra,
    )


# --------------------------------------------------------------------------- other events

_RECEIPTS = {
    neo.Receipt.DELIVERED: MessageStatus.DELIVERED,
    neo.Receipt.READ: MessageStatus.READ,
    neo.Receipt.PLAYED: MessageStatus.PLAYED,
}


def normalize_receipt(event: neo.Receipt) -> ReceiptReceived | None:
    """A delivery/read/played receipt for messages we sent; None for the other kinds
    (our own devices' read-self, retries, server errors, peer messages)."""
    status = _RECEIPTS.get(event.Type)
    if status is None or not event.MessageIDs or not is_chat(event.MessageSource):
        return None
    source = event.MessageSource
    chat = jid_str(source.Chat)
    if chat is None:
        return None
    if source.IsGroup or is_group(chat):
        chat_id = chat
    else:
        person = person_of(source.Chat, source.Sender, source.SenderAlt, source.RecipientAlt)
        chat_id = person.jid if person else chat
    return ReceiptReceived(
        wa_message_ids=tuple(event.MessageIDs),
        status=status,
        chat_id=chat_id,
        timestamp=_timestamp(event.Timestamp),
    )


def normalize_chat_presence(event: neo.ChatPresence) -> PresenceChanged | None:
    source = event.MessageSource
    chat = jid_str(source.Chat)
    if chat is None:
        return None
    person = person_of(source.Sender, source.SenderAlt)
    if event.State == neo.ChatPresence.COMPOSING:
        audio = event.Media == neo.ChatPresence.AUDIO
        state = PresenceState.RECORDING if audio else PresenceState.COMPOSING
    else:
        state = PresenceState.PAUSED
    if is_group(chat):
        chat_id = chat
    else:
        direct = person_of(source.Chat, source.Sender, source.SenderAlt)
        chat_id = direct.jid if direct else chat
    return PresenceChanged(chat_id=chat_id, participant=person.jid if person else chat, state=state)


def normalize_presence(event: neo.Presence) -> PresenceChanged | None:
    who = jid_str(event.From)
    if who is None:
        return None
    state = PresenceState.UNAVAILABLE if event.Unavailable else PresenceState.AVAILABLE
    return PresenceChanged(chat_id=who, participant=who, state=state)


def _has_video(node: neo.Node) -> bool:
    return node.Tag == "video" or any(_has_video(child) for child in node.Nodes)


def normalize_call(event: neo.CallOffer) -> CallReceived | None:
    meta = event.basicCallMeta
    caller = person_of(meta.callCreator, meta.callCreatorAlt, getattr(meta, "from"))
    if not meta.callID or caller is None:
        return None
    return CallReceived(
        call_id=meta.callID,
        caller=caller.jid,
        video=_has_video(event.data),
        timestamp=_timestamp(meta.timestamp),
    )


def normalize_undecryptable(event: neo.UndecryptableMessage) -> DecryptFailed | None:
    """A message whatsmeow could not decrypt (a Bad MAC, or a broken Signal session).

    ``IsUnavailable`` means the server only said the message exists (the phone
    will send it again); that is not a key problem, so it is not reported.
    """
    if event.IsUnavailable:
        return None
    chat = jid_str(event.Info.MessageSource.Chat) or ""
    return DecryptFailed(chat_id=chat, error="bad_mac")


# --------------------------------------------------------------------------- connection events

_FAILURE_CODES = {
    neo.LOGGED_OUT: 401,
    neo.MAIN_DEVICE_GONE: 401,
    neo.UNKNOWN_LOGOUT: 401,
    neo.TEMP_BANNED: 402,
    neo.SERVICE_UNAVAILABLE: 503,
    neo.CLIENT_OUTDATED: 405,
    neo.INTERNAL_SERVER_ERROR: 500,
}


def _reason_name(reason: int) -> str:
    try:
        return str(neo.ConnectFailureReason.Name(reason)).lower()
    except ValueError:
        return f"reason_{reason}"


def logged_out(event: neo.LoggedOut) -> Disconnected:
    """The phone unlinked this device, or WhatsApp refused the login at connect time."""
    code = 402 if event.Reason == neo.TEMP_BANNED else 401
    return Disconnected(code, f"logged out ({_reason_name(event.Reason)})")


def temporary_ban(event: neo.TemporaryBan) -> Disconnected:
    reason = neo.TemporaryBan.TempBanReason.Name(event.Code).lower() if event.Code else "unknown"
    return Disconnected(402, f"temporarily banned ({reason}), expires in {event.Expire} s")


def connect_failure(event: neo.ConnectFailure) -> Disconnected:
    code = _FAILURE_CODES.get(event.Reason, 500)
    detail = f": {event.Message}" if event.Message else ""
    return Disconnected(code, f"connect failure ({_reason_name(event.Reason)}){detail}")


def stream_error(event: neo.StreamError) -> Disconnected:
    code = 515 if event.Code == "515" else 500
    return Disconnected(code, f"stream error {event.Code}")


STREAM_REPLACED = Disconnected(440, "another client connected with this device's credentials")
CONNECTION_CLOSED = Disconnected(428, "the connection closed")
CLIENT_OUTDATED = Disconnected(405, "WhatsApp says this whatsmeow version is outdated")


def poll_vote(event: neo.Message, own: Own, selected: Sequence[bytes]) -> PollVoted:
    """A vote in a poll, once decrypted: ``selected`` holds the SHA-256 of each option's
    name, which is all a vote carries."""
    update = unwrap(event.Message).pollUpdateMessage
    if not update.pollCreationMessageKey.ID:
        raise ValueError("a poll vote without its poll's id")
    env = envelope(event.Info.MessageSource, own)
    return PollVoted(
        poll_wa_message_id=update.pollCreationMessageKey.ID,
        chat_id=env.chat_id,
        voter=env.sender,
        timestamp=_timestamp(event.Info.Timestamp),
        option_hashes=tuple(selected),
    )


# whatsmeow's error codes for one participant of a group change (XMPP-style)
PARTICIPANT_ERRORS = {
    403: "not_allowed",  # their privacy settings, or we are not an admin
    404: "not_on_whatsapp",
    408: "not_on_whatsapp",  # a number WhatsApp cannot resolve
    409: "already_a_participant",
}


def participant_results(
    asked: Sequence[str], changed: Sequence[neo.GroupParticipant]
) -> list[dict[str, Any]]:
    """One result per person asked about, from whatsmeow's answer (``Error`` 0: done)."""
    errors: dict[str, int] = {}
    for p in changed:
        for address in (p.JID, p.PhoneNumber, p.LID):
            if address.User:
                errors[jid_str(address) or ""] = int(p.Error)
    results = []
    for person in asked:
        code = errors.get(person, 0)
        error = None if code == 0 else PARTICIPANT_ERRORS.get(code, f"error_{code}")
        results.append({"jid": person, "ok": error is None, "error": error})
    return results


def group_error(exc: Exception) -> WagateError:
    """What a failed group request means, from whatsmeow's error text."""
    if isinstance(exc, WagateError):
        return exc
    text = str(exc)
    if "item-not-found" in text or "404" in text:
        return GroupNotFound(f"this session is not in the group: {text}")
    if "forbidden" in text or "not-authorized" in text or "403" in text:
        return NotGroupAdmin(f"WhatsApp refused: only the group's admins may do this ({text})")
    return TransportError(f"WhatsApp refused the group request: {text}")


def group_changes(event: neo.GroupInfoEvent) -> list[GroupChanged]:
    """whatsmeow's GroupInfo notification as one change per kind of change in it."""
    group = jid_str(event.JID) or ""
    when = _timestamp(event.Timestamp)
    by = jid_str(event.Sender) or None
    changes: list[GroupChanged] = []
    for change, people in (
        ("joined", event.Join),
        ("left", event.Leave),
        ("promoted", event.Promote),
        ("demoted", event.Demote),
    ):
        if len(people):
            who = tuple(jid_str(p) or "" for p in people)
            changes.append(GroupChanged(group, change, when, who, by))  # type: ignore[arg-type]
    if event.HasField("Name") and event.Name.Name:
        changes.append(GroupChanged(group, "subject", when, (), by, event.Name.Name))
    if event.HasField("Topic"):
        changes.append(GroupChanged(group, "description", when, (), by, event.Topic.Topic))
    if event.HasField("Announce"):
        announce = bool(event.Announce.IsAnnounce)
        changes.append(GroupChanged(group, "announce", when, (), by, announce))
    if event.HasField("Locked"):
        changes.append(GroupChanged(group, "locked", when, (), by, bool(event.Locked.isLocked)))
    return changes
