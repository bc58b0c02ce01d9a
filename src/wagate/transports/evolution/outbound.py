"""wagate's outgoing messages as Evolution v2 REST calls: which endpoint, which body. Pure.

=========  ============================  ==========================================
type       endpoint                      body
=========  ============================  ==========================================
text       ``/message/sendText``         ``number``, ``text``
image...   ``/message/sendMedia``        ``mediatype``, ``mimetype``, ``media`` (base64),
                                         ``caption``, ``fileName``
voice      ``/message/sendWhatsAppAudio`` ``audio`` (base64; Evolution makes it a PTT note)
location   ``/message/sendLocation``     ``latitude``, ``longitude``, ``name``, ``address``
contact    ``/message/sendContact``      ``contact``: ``[{fullName, wuid, phoneNumber}]``
reaction   ``/message/sendReaction``     ``key`` of the target, ``reaction`` ("" removes)
poll       ``/message/sendPoll``         ``number``, ``name``, ``selectableCount``, ``values``
edit       ``/chat/updateMessage``       ``number``, ``key`` of our message, ``text``
revoke     ``DELETE``                    ``id``, ``remoteJid``, ``fromMe``
           ``/chat/deleteMessage``
           ``ForEveryone``
=========  ============================  ==========================================

A reply adds ``quoted: {"key": {"id": ...}}``; Evolution looks the quoted
message up in its own store by that id.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from wagate.domain import (
    CHANGE_TYPES,
    SENDABLE_TYPES,
    MessageType,
    OutgoingMessage,
    PermanentSendError,
    phone_of,
)

_MEDIA_TYPES = {
    MessageType.IMAGE: "image",
    MessageType.VIDEO: "video",
    MessageType.AUDIO: "audio",
    MessageType.DOCUMENT: "document",
}
OUTBOUND_TYPES = SENDABLE_TYPES | CHANGE_TYPES | {MessageType.POLL}


@dataclass(frozen=True, slots=True)
class Call:
    """One Evolution request: ``method /group/action/{instance}`` with a JSON body."""

    group: str
    action: str
    body: dict[str, Any]
    method: str = "POST"


def number_of(jid: str) -> str:
    """Evolution's ``number``: phone digits for a person, the full JID for groups and LIDs."""
    return phone_of(jid) or jid


def request_for(message: OutgoingMessage) -> Call:
    """The request that sends ``message``."""
    if message.type in CHANGE_TYPES:
        return _change(message)
    action, body = _message_request(message)
    return Call("message", action, body)


def _change(message: OutgoingMessage) -> Call:
    if not message.target:
        raise PermanentSendError(
            f"a {message.type.value} without the id of its message", code="invalid_message"
        )
    key = {"remoteJid": message.to, "fromMe": True, "id": message.target}
    if message.type is MessageType.EDIT:
        body = {"number": number_of(message.to), "key": key, "text": message.text or ""}
        return Call("chat", "updateMessage", body)
    return Call("chat", "deleteMessageForEveryone", key, method="DELETE")


def _message_request(message: OutgoingMessage) -> tuple[str, dict[str, Any]]:
    """The endpoint (after ``/message/``) and JSON body that send ``message``."""
    to = message.to
    body: dict[str, Any] = {"number": number_of(to)}
    if message.reply_to and message.type is not MessageType.REACTION:
        body["quoted"] = {"key": {"id": message.reply_to}}
    kind = message.type
    if kind is MessageType.TEXT:
        return "sendText", body | {"text": message.text or ""}
    if kind in _MEDIA_TYPES or kind is MessageType.VOICE:
        media = message.media
        if media is None:
            raise PermanentSendError(
                f"a {kind.value} message without media", code="invalid_message"
            )
        encoded = base64.b64encode(media.data).decode("ascii")
        if kind is MessageType.VOICE:
            return "sendWhatsAppAudio", body | {"audio": encoded}
        fields: dict[str, Any] = {
            "mediatype": _MEDIA_TYPES[kind],
            "mimetype": media.mime_type,
            "media": encoded,
        }
        if message.text:
            fields["caption"] = message.text
        if media.file_name:
            fields["fileName"] = media.file_name
        return "sendMedia", body | fields
    if kind is MessageType.LOCATION and message.location is not None:
        where = message.location
        return "sendLocation", body | {
            "latitude": where.latitude,
            "longitude": where.longitude,
            "name": where.name or "",
            "address": where.address or "",
        }
    if kind is MessageType.CONTACT and message.contact is not None:
        card = message.contact
        digits = "".join(ch for ch in card.phone if ch.isdigit())
        return "sendContact", body | {
            "contact": [{"fullName": card.name, "wuid": digits, "phoneNumber": f"+{digits}"}]
        }
    if kind is MessageType.POLL and message.poll is not None:
        poll = message.poll
        return "sendPoll", body | {
            "name": poll.name,
            "selectableCount": poll.selectable_count,
            "values": list(poll.options),
        }
    if kind is MessageType.REACTION and message.reaction is not None:
        key: dict[str, Any] = {
            "remoteJid": to,
            # wagate does not know who wrote the target; reactions mostly answer a contact.
            "fromMe": False,
            "id": message.reaction.message_id,
        }
        return "sendReaction", {"key": key, "reaction": message.reaction.emoji or ""}
    raise PermanentSendError(
        f"the evolution transport cannot send {kind.value!r} messages", code="unsupported_type"
    )


def sent_id(answer: Any) -> str | None:
    """The WhatsApp id Evolution chose, from the send's answer (``key.id``)."""
    if not isinstance(answer, dict):
        return None
    key = answer.get("key")
    wa_id = key.get("id") if isinstance(key, dict) else None
    return wa_id if isinstance(wa_id, str) and wa_id else None
