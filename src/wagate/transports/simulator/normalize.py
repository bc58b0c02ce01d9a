"""Simulator wire payload -> wagate's normalized inbound shapes. Pure functions.

The format is described in :mod:`wagate.transports.simulator.wire`. The rules
for ids follow CONTRACT.md: a person's ``chat_id`` is their phone JID whenever
any phone number is known and their ``@lid`` JID only when the network hid it;
a group's is its ``@g.us`` JID. A content kind this module does not know, or
a known kind whose fields are malformed, becomes ``type=unsupported`` with the
payload kept in ``raw``; only a payload without a usable key (id, chat,
timestamp) raises ``ValueError``, which the transport reports as
``Unparseable``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from wagate.domain import (
    ChatType,
    ContactCard,
    IdentityLearned,
    InboundMedia,
    InboundMessage,
    Location,
    MediaInfo,
    MessageEdit,
    MessageRevoke,
    MessageType,
    PollVoted,
    Reaction,
    is_group,
    is_lid,
    lid_jid,
    phone_jid,
    phone_of,
    split_jid,
)
from wagate.transports.simulator.models import DEFAULT_MIME, VOICE_MIME

Normalized = InboundMessage | MessageEdit | MessageRevoke | PollVoted
_MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
_CHANGES = ("edit", "revoke", "poll_vote")  # kinds that change or answer an earlier message


class _Envelope:
    """The parts of a payload every kind shares."""

    def __init__(self, payload: dict[str, Any], own_phone: str) -> None:
        key = payload.get("key")
        if not isinstance(key, dict):
            raise ValueError("simulator payload has no 'key'")
        wa_id = key.get("id")
        if not isinstance(wa_id, str) or not wa_id:
            raise ValueError("simulator payload key has no 'id'")
        remote = key.get("remote_jid")
        if not isinstance(remote, str) or "@" not in remote:
            raise ValueError(f"simulator payload {wa_id} has no usable 'remote_jid'")
        self.wa_message_id = wa_id
        self.from_me = key.get("from_me") is True
        self.timestamp = _timestamp(payload.get("timestamp"), wa_id)
        push_name = payload.get("push_name")
        self.push_name = push_name if isinstance(push_name, str) and push_name else None
        if is_group(remote):
            self.chat_type = ChatType.GROUP
            self.chat_id: str = remote
            person = _person(key.get("participant"), key.get("participant_alt"))
            if person is None and not self.from_me:
                raise ValueError(f"group message {wa_id} has no usable 'participant'")
        else:
            self.chat_type = ChatType.DIRECT
            person = _person(remote, key.get("remote_jid_alt"))
            if person is None:
                raise ValueError(f"simulator payload {wa_id}: {remote!r} is not a person or group")
            self.chat_id = phone_jid(person[0]) if person[0] else str(person[1])
        # The person the payload names: the sender, or the chat partner of a from_me message.
        self.person_phone, self.person_lid = person if person else (None, None)
        self.sender_phone: str | None = own_phone if self.from_me else self.person_phone
        self.sender_lid: str | None = None if self.from_me else self.person_lid
        self.sender: str = (
            phone_jid(self.sender_phone) if self.sender_phone else str(self.sender_lid)
        )


def _timestamp(value: object, wa_id: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"simulator payload {wa_id} has no numeric 'timestamp'")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"simulator payload {wa_id} has an impossible timestamp") from None


def _person(primary: object, alternate: object) -> tuple[str | None, str | None] | None:
    """(phone digits, @lid JID) from a person's addresses; None when neither is usable."""
    addresses = [a for a in (primary, alternate) if isinstance(a, str)]
    phone = next((p for p in map(phone_of, addresses) if p), None)
    lid = next((lid_jid(split_jid(a)[0]) for a in addresses if is_lid(a)), None)
    if phone is None and lid is None:
        return None
    return phone, lid


def _kind(message: dict[str, Any]) -> tuple[str, Any]:
    """The first content kind this module knows, else the first key at all."""
    kinds = [k for k in message if k != "context"]
    known = [k for k in kinds if k in _PARSERS or k in _MEDIA_KINDS or k in _CHANGES]
    kind = (known or kinds or ["<empty>"])[0]
    return kind, message.get(kind)


def normalize_simulator_payload(payload: dict[str, Any], own_phone: str) -> Normalized:
    """Turn one simulator wire payload into an inbound message, an edit or a revoke.

    ``own_phone`` is the session's own number: a ``from_me`` message's sender.
    """
    env = _Envelope(payload, own_phone)
    message = payload.get("message")
    if not isinstance(message, dict):
        return _message(env, payload, MessageType.UNSUPPORTED)
    kind, content = _kind(message)
    try:
        if kind == "edit":
            return MessageEdit(
                target_wa_message_id=_str(content["target_id"]),
                chat_id=env.chat_id,
                text=_str(content["text"]),
                timestamp=env.timestamp,
            )
        if kind == "revoke":
            return MessageRevoke(
                target_wa_message_id=_str(content["target_id"]),
                chat_id=env.chat_id,
                timestamp=env.timestamp,
            )
        if kind == "poll_vote":
            return PollVoted(
                poll_wa_message_id=_str(content["target_id"]),
                chat_id=env.chat_id,
                voter=env.sender,
                timestamp=env.timestamp,
                option_hashes=tuple(bytes.fromhex(_str(h)) for h in content["option_hashes"]),
            )
        if kind in _MEDIA_KINDS:
            return _media_message(env, payload, kind, content, message)
        parser = _PARSERS.get(kind)
        if parser is None:
            return _message(env, payload, MessageType.UNSUPPORTED)
        msg_type, fields = parser(content)
        return _message(env, payload, msg_type, reply_to=_quoted(message), **fields)
    except (KeyError, TypeError, ValueError):  # pydantic's ValidationError is a ValueError
        return _message(env, payload, MessageType.UNSUPPORTED)


def _message(
    env: _Envelope, payload: dict[str, Any], msg_type: MessageType, **fields: Any
) -> InboundMessage:
    return InboundMessage(
        wa_message_id=env.wa_message_id,
        chat_id=env.chat_id,
        chat_type=env.chat_type,
        sender=env.sender,
        sender_phone=env.sender_phone,
        sender_lid=env.sender_lid,
        push_name=env.push_name,
        from_me=env.from_me,
        type=msg_type,
        timestamp=env.timestamp,
        raw=payload,
        **fields,
    )


def _str(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _quoted(message: dict[str, Any]) -> str | None:
    context = message.get("context")
    return _optional_str(context.get("quoted_id")) if isinstance(context, dict) else None


def _media_message(
    env: _Envelope, payload: dict[str, Any], kind: str, content: Any, message: dict[str, Any]
) -> InboundMessage:
    if not isinstance(content, dict):
        raise TypeError("media content is not an object")
    voice = kind == "audio" and content.get("voice") is True
    msg_type = MessageType.VOICE if voice else MessageType(kind)
    size = content.get("size")
    info = MediaInfo(
        mime_type=_media_mime(kind, content),
        file_name=_optional_str(content.get("file_name")),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        voice=voice,
        sha256=_optional_str(content.get("sha256")),
    )
    return _message(
        env,
        payload,
        msg_type,
        text=_optional_str(content.get("caption")),
        media=info,
        reply_to=_quoted(message),
    )


def _media_mime(kind: str, content: dict[str, Any]) -> str:
    if kind == "audio" and content.get("voice") is True:
        return _optional_str(content.get("mime_type")) or VOICE_MIME
    return _optional_str(content.get("mime_type")) or DEFAULT_MIME[kind]


Fields = tuple[MessageType, dict[str, Any]]


def _text(content: Any) -> Fields:
    return MessageType.TEXT, {"text": _str(content["body"])}


def _location(content: Any) -> Fields:
    return MessageType.LOCATION, {"location": Location.model_validate(content)}


def _contacts(content: Any) -> Fields:
    items = [ContactCard.model_validate(item) for item in content["items"]]
    if not items:
        raise ValueError("a contacts message without contacts")
    return MessageType.CONTACTS, {"contacts": items}


def _reaction(content: Any) -> Fields:
    emoji = content.get("emoji")
    reaction = Reaction(message_id=_str(content["target_id"]), emoji=_optional_str(emoji))
    return MessageType.REACTION, {"reaction": reaction}


def _interactive(content: Any) -> Fields:
    return MessageType.INTERACTIVE, {"text": _optional_str(content.get("title"))}


_PARSERS: dict[str, Callable[[Any], Fields]] = {
    "text": _text,
    "location": _location,
    "contacts": _contacts,
    "reaction": _reaction,
    "interactive": _interactive,
}


def learned_identity(payload: dict[str, Any]) -> IdentityLearned | None:
    """The phone/@lid pair a payload reveals about the person it names, if it shows both.

    That person is the sender, or for a ``from_me`` message the chat partner.
    ``lid`` is the ``@lid`` JID, as in ``InboundMessage.sender_lid``.
    """
    try:
        env = _Envelope(payload, own_phone="0")
    except ValueError:
        return None
    if env.person_phone is None or env.person_lid is None:
        return None
    push_name = None if env.from_me else env.push_name
    return IdentityLearned(phone=env.person_phone, lid=env.person_lid, push_name=push_name)


def media_of(payload: dict[str, Any]) -> InboundMedia | None:
    """The attachment's bytes carried inline by a media payload; None if there are none."""
    message = payload.get("message")
    if not isinstance(message, dict):
        return None
    kind, content = _kind(message)
    if kind not in _MEDIA_KINDS or not isinstance(content, dict):
        return None
    raw = content.get("data")
    if not isinstance(raw, str):
        return None
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    return InboundMedia(
        data=data,
        mime_type=_media_mime(kind, content),
        file_name=_optional_str(content.get("file_name")),
    )
