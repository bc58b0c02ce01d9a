"""The content of a Baileys ``message`` object -> wagate's message type and fields. Pure.

A message's content is a protobuf ``Message`` serialized to JSON: one key names
the kind (``conversation``, ``imageMessage``...), possibly inside wrappers
(``ephemeralMessage``, ``viewOnceMessageV2``, ``documentWithCaptionMessage``,
``editedMessage``...) that are peeled first. Evolution adds its own keys next to
the content (``base64`` inline media, ``mediaUrl``, ``speechToText``), and from
2.2 on lifts the reply's ``contextInfo`` out to ``data.contextInfo`` and folds
``extendedTextMessage`` into ``conversation``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wagate.domain import ContactCard, Location, MediaInfo, MessageType, Reaction
from wagate.transports.evolution.codecs import hex_digest, to_int

WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
    "deviceSentMessage",
    "botInvokeMessage",
    "groupMentionedMessage",
    "lottieStickerMessage",
)
# Keys that sit beside the content and are not a kind of their own.
SIDE_KEYS = frozenset(
    {
        "messageContextInfo",
        "base64",
        "mediaUrl",
        "speechToText",
        "contextInfo",
        "senderKeyDistributionMessage",
    }
)

MEDIA_KINDS: dict[str, MessageType] = {
    "imageMessage": MessageType.IMAGE,
    "videoMessage": MessageType.VIDEO,
    "ptvMessage": MessageType.VIDEO,
    "audioMessage": MessageType.AUDIO,
    "documentMessage": MessageType.DOCUMENT,
    "stickerMessage": MessageType.STICKER,
}
DEFAULT_MIME = {
    MessageType.IMAGE: "image/jpeg",
    MessageType.VIDEO: "video/mp4",
    MessageType.AUDIO: "audio/mpeg",
    MessageType.VOICE: "audio/ogg; codecs=opus",
    MessageType.DOCUMENT: "application/octet-stream",
    MessageType.STICKER: "image/webp",
}


@dataclass(slots=True)
class Content:
    """What a message carries, ready for ``InboundMessage``."""

    type: MessageType
    fields: dict[str, Any] = field(default_factory=dict)


def unwrap(message: dict[str, Any]) -> dict[str, Any]:
    """Peel wrappers until the content itself (at most a few levels)."""
    for _ in range(8):
        inner = next(
            (message[w]["message"] for w in WRAPPERS if _wrapped(message.get(w))),
            None,
        )
        if inner is None:
            return message
        # Evolution's own side keys (base64, mediaUrl) stay with the outer object.
        message = {**{k: v for k, v in message.items() if k in SIDE_KEYS}, **inner}
    return message


def _wrapped(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("message"), dict)


def kind_of(message: dict[str, Any]) -> str | None:
    """The content's kind: the first key that is not a side key and holds a value."""
    kinds = [k for k, v in message.items() if k not in SIDE_KEYS and v not in (None, {}, "")]
    known = [k for k in kinds if k in _PARSERS or k in MEDIA_KINDS or k == "protocolMessage"]
    found = known or kinds
    return found[0] if found else None


def context_info(message: dict[str, Any], data: dict[str, Any]) -> dict[str, Any] | None:
    """The reply context: lifted to ``data.contextInfo`` (2.2+) or inside the content."""
    lifted = data.get("contextInfo")
    if isinstance(lifted, dict) and lifted:
        return lifted
    for value in message.values():
        if isinstance(value, dict) and isinstance(value.get("contextInfo"), dict):
            return dict(value["contextInfo"])
    return None


def reply_to(message: dict[str, Any], data: dict[str, Any]) -> str | None:
    context = context_info(message, data)
    if context is None:
        return None
    quoted = context.get("stanzaId")
    return quoted if isinstance(quoted, str) and quoted else None


def parse(kind: str, body: Any) -> Content:
    """Type and fields of one content kind; unknown or malformed kinds are ``unsupported``."""
    try:
        if kind in MEDIA_KINDS:
            return _media(kind, body)
        parser = _PARSERS.get(kind)
        if parser is not None:
            return parser(body)
    except (KeyError, TypeError, ValueError):  # pydantic's ValidationError is a ValueError
        pass
    return Content(MessageType.UNSUPPORTED)


def text_of(content: Any) -> str | None:
    """The text of an edited-message body (``conversation``, extended text or a caption)."""
    if not isinstance(content, dict):
        return None
    content = unwrap(content)
    if isinstance(content.get("conversation"), str):
        return str(content["conversation"])
    for value in content.values():
        if isinstance(value, dict):
            for name in ("text", "caption"):
                if isinstance(value.get(name), str):
                    return str(value[name])
    return None


# --------------------------------------------------------------------------- kinds


def _opt(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _text(body: Any) -> Content:
    if not isinstance(body, str) or not body:
        raise ValueError("empty text")
    return Content(MessageType.TEXT, {"text": body})


def _extended_text(body: Any) -> Content:
    return _text(body["text"])


def _media(kind: str, body: Any) -> Content:
    if not isinstance(body, dict):
        raise TypeError("media content is not an object")
    msg_type = MEDIA_KINDS[kind]
    voice = msg_type is MessageType.AUDIO and body.get("ptt") is True
    if voice:
        msg_type = MessageType.VOICE
    info = MediaInfo(
        mime_type=_opt(body.get("mimetype")) or DEFAULT_MIME[msg_type],
        file_name=_opt(body.get("fileName")),
        size=to_int(body.get("fileLength")),
        voice=voice,
        sha256=hex_digest(body.get("fileSha256")),
    )
    return Content(msg_type, {"text": _opt(body.get("caption")), "media": info})


def _location(body: Any) -> Content:
    location = Location(
        latitude=body["degreesLatitude"],
        longitude=body["degreesLongitude"],
        name=_opt(body.get("name")),
        address=_opt(body.get("address")),
    )
    return Content(MessageType.LOCATION, {"location": location})


_WAID = re.compile(r"waid=(\d+)", re.IGNORECASE)
_TEL = re.compile(r"^(?:item\d+\.)?TEL[^:]*:(.+)$", re.IGNORECASE | re.MULTILINE)
_FN = re.compile(r"^FN[^:]*:(.+)$", re.IGNORECASE | re.MULTILINE)


def card_of(body: Any) -> ContactCard | None:
    """A contact card from ``{displayName, vcard}``; None without a phone number."""
    if not isinstance(body, dict):
        return None
    vcard = str(body["vcard"]) if isinstance(body.get("vcard"), str) else ""
    phone = None
    if match := _WAID.search(vcard):
        phone = match.group(1)
    elif match := _TEL.search(vcard):
        phone = re.sub(r"[^\d]", "", match.group(1)) or None
    name = _opt(body.get("displayName"))
    if name is None and (match := _FN.search(vcard)):
        name = match.group(1).strip() or None
    if phone is None:
        return None
    return ContactCard(name=(name or phone)[:256], phone=phone[:64])


def _contact(body: Any) -> Content:
    card = card_of(body)
    if card is None:
        raise ValueError("a contact card without a phone number")
    return Content(MessageType.CONTACTS, {"contacts": [card]})


def _contacts_array(body: Any) -> Content:
    cards = [c for c in map(card_of, body["contacts"]) if c is not None]
    if not cards:
        raise ValueError("a contacts message without usable cards")
    return Content(MessageType.CONTACTS, {"contacts": cards})


def _reaction(body: Any) -> Content:
    target = body["key"]["id"]
    if not isinstance(target, str) or not target:
        raise ValueError("a reaction without a target")
    reaction = Reaction(message_id=target, emoji=_opt(body.get("text")))
    return Content(MessageType.REACTION, {"reaction": reaction})


def _buttons_reply(body: Any) -> Content:
    title = _opt(body.get("selectedDisplayText")) or _opt(body.get("selectedButtonId"))
    return Content(MessageType.INTERACTIVE, {"text": title})


def _list_reply(body: Any) -> Content:
    reply = body.get("singleSelectReply") or {}
    title = _opt(body.get("title")) or _opt(reply.get("selectedRowId"))
    return Content(MessageType.INTERACTIVE, {"text": title})


def _template_reply(body: Any) -> Content:
    title = _opt(body.get("selectedDisplayText")) or _opt(body.get("selectedId"))
    return Content(MessageType.INTERACTIVE, {"text": title})


def _interactive_reply(body: Any) -> Content:
    text = (body.get("body") or {}).get("text")
    return Content(MessageType.INTERACTIVE, {"text": _opt(text)})


_PARSERS: dict[str, Callable[[Any], Content]] = {
    "conversation": _text,
    "extendedTextMessage": _extended_text,
    "locationMessage": _location,
    "liveLocationMessage": _location,
    "contactMessage": _contact,
    "contactsArrayMessage": _contacts_array,
    "reactionMessage": _reaction,
    "buttonsResponseMessage": _buttons_reply,
    "listResponseMessage": _list_reply,
    "templateButtonReplyMessage": _template_reply,
    "interactiveResponseMessage": _interactive_reply,
}
