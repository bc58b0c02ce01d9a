"""Evolution API webhook payload -> wagate's normalized transport events. Pure functions.

Every webhook is an envelope ``{"event", "instance", "data", "date_time",
"sender", "server_url", "apikey"}``. ``date_time`` is the Evolution server's
local time with a ``Z`` glued on, so it is never used: messages carry their own
``data.messageTimestamp`` (WhatsApp's clock), and events without one (receipts,
presence) take ``received_at``, the moment wagate got the webhook.

Event names are matched loosely (``messages.upsert``, ``MESSAGES_UPSERT`` and the
``messages-upsert`` suffix of "webhook by events" URLs are the same event).
A payload without a usable message key becomes :class:`Unparseable` (dead letter);
message content this module does not know becomes ``type=unsupported``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wagate.domain import (
    CallReceived,
    ChatType,
    Connected,
    Disconnected,
    IdentityLearned,
    InboundMedia,
    InboundMessage,
    MessageEdit,
    MessageEdited,
    MessageReceived,
    MessageRevoke,
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
    phone_of,
)
from wagate.domain.groups import GroupChange, GroupChanged
from wagate.transports.evolution import content as c
from wagate.transports.evolution.addressing import Addressing, chat_of, person_of, resolve
from wagate.transports.evolution.codecs import parse_iso, to_bytes, to_datetime, to_int

SOURCE = "evolution"
QR_TTL = timedelta(seconds=40)  # WhatsApp rotates login QR codes every 20-60 s

# Events Evolution sends that carry nothing wagate keeps (chat lists, contacts, groups,
# labels...). ``send.message`` echoes what wagate itself sent through the REST API: the
# send's answer already recorded it, so the echo must not be stored as a human's reply.
IGNORED_EVENTS = frozenset(
    {
        "application.startup",
        "instance.create",
        "instance.delete",
        "remove.instance",
        "logout.instance",
        "status.instance",
        "send.message",
        "send.message.update",
        "messages.set",
        "messaging.history.set",
        "contacts.set",
        "contacts.upsert",
        "contacts.update",
        "chats.set",
        "chats.upsert",
        "chats.update",
        "chats.delete",
        "groups.upsert",
        "groups.update",
        "group.update",
        "labels.edit",
        "labels.association",
        "new.jwt.token",
        "typebot.start",
        "typebot.change.status",
    }
)

_RECEIPTS = {
    "DELIVERY_ACK": MessageStatus.DELIVERED,
    "READ": MessageStatus.READ,
    "PLAYED": MessageStatus.PLAYED,
    3: MessageStatus.DELIVERED,
    4: MessageStatus.READ,
    5: MessageStatus.PLAYED,
}
_PROTOCOL_REVOKE = ("REVOKE", 0)
_PROTOCOL_EDIT = ("MESSAGE_EDIT", 14)
_PRESENCE = {state.value: state for state in PresenceState}
_BROADCASTS = ("@broadcast", "@newsletter")


def event_name(raw: Any) -> str:
    """``MESSAGES_UPSERT`` / ``messages-upsert`` / ``messages.upsert`` -> ``messages.upsert``."""
    return str(raw or "").strip().lower().replace("_", ".").replace("-", ".")


@dataclass(slots=True)
class Normalized:
    """What one webhook turned into."""

    event: str
    events: list[TransportEvent] = field(default_factory=list)
    handled: bool = True  # False: an event type wagate does not know (counted, logged)


def normalize_evolution_payload(
    payload: Any,
    *,
    received_at: datetime,
    own_phone: str | None = None,
    event: str | None = None,
) -> Normalized:
    """Turn one webhook body into events.

    ``event`` is the name taken from a "webhook by events" URL, used when the body
    has none. ``own_phone`` is the session's number, the sender of ``fromMe``
    messages when the envelope's ``sender`` does not say.
    """
    if not isinstance(payload, dict):
        return Normalized(
            event_name(event),
            [Unparseable(SOURCE, "the payload is not a JSON object", {"payload": payload})],
        )
    name = event_name(payload.get("event") or event)
    handler = _HANDLERS.get(name)
    if handler is None:
        if name in IGNORED_EVENTS:
            return Normalized(name)
        return Normalized(name, [UnknownEventType(SOURCE, name or "<none>")], handled=False)
    own_jid = _own_jid(payload, own_phone)
    context = _Context(payload, received_at, own_jid)
    events: list[TransportEvent] = []
    for item in _items(payload.get("data")):
        try:
            events.extend(handler(item, context))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            reason = f"{name}: {exc}" if str(exc) else f"{name}: malformed data"
            events.append(Unparseable(SOURCE, reason, _redacted(payload) | {"data": item}))
    if not _items(payload.get("data")):
        events.append(Unparseable(SOURCE, f"{name}: no 'data'", _redacted(payload)))
    return Normalized(name, events)


def _redacted(payload: dict[str, Any]) -> dict[str, Any]:
    """The envelope without Evolution's ``apikey``, before it is kept as a dead letter."""
    return {k: v for k, v in payload.items() if k != "apikey"}


@dataclass(frozen=True, slots=True)
class _Context:
    payload: dict[str, Any]
    received_at: datetime
    own_jid: str | None


def _own_jid(payload: dict[str, Any], own_phone: str | None) -> str | None:
    sender = payload.get("sender")
    if isinstance(sender, str) and phone_of(sender):
        return sender
    return f"{own_phone}@s.whatsapp.net" if own_phone else None


def _items(data: Any) -> list[dict[str, Any]]:
    """``data`` is one object, or a list of them in some events and versions."""
    if isinstance(data, dict) and data:
        if isinstance(data.get("messages"), list):  # Baileys' own {messages, type} batch
            return [m for m in data["messages"] if isinstance(m, dict)]
        return [data]
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict)]
    return []


# --------------------------------------------------------------------------- messages


def _message_events(data: dict[str, Any], ctx: _Context) -> list[TransportEvent]:
    key = data.get("key")
    if not isinstance(key, dict):
        raise ValueError("message has no 'key'")
    wa_id = key.get("id")
    if not isinstance(wa_id, str) or not wa_id:
        raise ValueError("message key has no 'id'")
    if str(key.get("remoteJid", "")).endswith(_BROADCASTS):
        return []  # status updates and channel posts are not conversations
    where = resolve(key, data, ctx.own_jid)
    timestamp = to_datetime(data.get("messageTimestamp")) or ctx.received_at
    events: list[TransportEvent] = []
    identity = _identity(where, data, key.get("fromMe") is True)
    if identity is not None:
        events.append(identity)
    raw = data.get("message")
    message = c.unwrap(raw) if isinstance(raw, dict) else {}
    kind = c.kind_of(message)
    if kind == "protocolMessage":
        events.extend(_protocol(message["protocolMessage"], where, timestamp, data))
        return events
    parsed = c.parse(kind, message[kind]) if kind else c.Content(MessageType.UNSUPPORTED)
    fields = dict(parsed.fields)
    fields.setdefault("reply_to", c.reply_to(message, data))
    push_name = data.get("pushName")
    inbound = InboundMessage(
        wa_message_id=wa_id,
        chat_id=where.chat_id,
        chat_type=where.chat_type,
        sender=where.sender,
        sender_phone=where.sender_phone,
        sender_lid=where.sender_lid,
        push_name=push_name
        if isinstance(push_name, str) and push_name and not _from_me(key)
        else None,
        from_me=_from_me(key),
        type=parsed.type,
        timestamp=timestamp,
        raw=data,
        **fields,
    )
    events.append(MessageReceived(inbound, _inline_media(message, inbound)))
    return events


def _from_me(key: dict[str, Any]) -> bool:
    return key.get("fromMe") is True


def _identity(where: Addressing, data: dict[str, Any], from_me: bool) -> IdentityLearned | None:
    person = where.other
    if person is None or person.phone is None or person.lid is None:
        return None
    push_name = data.get("pushName")
    name = push_name if isinstance(push_name, str) and push_name and not from_me else None
    return IdentityLearned(phone=person.phone, lid=person.lid, push_name=name)


def _inline_media(message: dict[str, Any], inbound: InboundMessage) -> InboundMedia | None:
    """``message.base64``: the attachment, when the instance has "webhook base64" on."""
    if inbound.media is None:
        return None
    data = to_bytes(message.get("base64"))
    if not data:
        return None
    return InboundMedia(
        data=data,
        mime_type=inbound.media.mime_type or "application/octet-stream",
        file_name=inbound.media.file_name,
    )


def _protocol(
    body: Any, where: Addressing, timestamp: datetime, data: dict[str, Any]
) -> list[TransportEvent]:
    """A ``protocolMessage``: revokes and edits update the original; other kinds are noise."""
    if not isinstance(body, dict):
        raise ValueError("protocolMessage is not an object")
    kind = body.get("type", 0)  # protobuf omits the default, REVOKE (0)
    target = (body.get("key") or {}).get("id")
    if kind not in _PROTOCOL_REVOKE + _PROTOCOL_EDIT:
        return []
    if not isinstance(target, str) or not target:
        raise ValueError("protocolMessage has no target key id")
    chat = chat_of((body.get("key") or {}).get("remoteJid")) or where.chat_id
    if chat.endswith("@lid") and not where.chat_id.endswith("@lid"):
        chat = where.chat_id  # the phone JID the rest of the payload revealed
    if kind in _PROTOCOL_REVOKE:
        return [MessageRevoked(MessageRevoke(target, chat, timestamp))]
    text = c.text_of(body.get("editedMessage"))
    if text is None:
        raise ValueError("edit without text")
    edited_at = to_datetime(body.get("timestampMs"), millis=True) or timestamp
    return [MessageEdited(MessageEdit(target, chat, text, edited_at))]


def _edited_event(data: dict[str, Any], ctx: _Context) -> list[TransportEvent]:
    """``messages.edited`` (2.2+): ``data`` is the protocolMessage itself."""
    if isinstance(data.get("key"), dict) and isinstance(data.get("message"), dict):
        return _message_events(data, ctx)  # some versions post the whole message
    key = data.get("key")
    if not isinstance(key, dict):
        raise ValueError("edit has no 'key'")
    chat = chat_of(key.get("remoteJid"), key.get("remoteJidAlt"))
    if chat is None:
        raise ValueError("edit key has no usable 'remoteJid'")
    where = Addressing(chat, _chat_type(chat), chat, None, None, None)
    timestamp = to_datetime(data.get("timestampMs"), millis=True) or ctx.received_at
    return _protocol(data, where, timestamp, data)


def _chat_type(chat: str) -> ChatType:
    return ChatType.GROUP if chat.endswith("@g.us") else ChatType.DIRECT


def _deleted(data: dict[str, Any], ctx: _Context) -> list[TransportEvent]:
    """``messages.delete``: ``data`` is the deleted message's key (flat or under ``key``)."""
    key: dict[str, Any] = data["key"] if isinstance(data.get("key"), dict) else data
    target = key.get("id") or key.get("keyId")
    chat = chat_of(key.get("remoteJid"), key.get("remoteJidAlt"))
    if not isinstance(target, str) or not target or chat is None:
        raise ValueError("delete without a message key")
    return [MessageRevoked(MessageRevoke(target, chat, ctx.received_at))]


# --------------------------------------------------------------------------- receipts


def _update(data: dict[str, Any], ctx: _Context) -> list[TransportEvent]:
    """``messages.update``: a receipt (v2 flat, v1 flat with ``id``, or Baileys' key+update)."""
    key: dict[str, Any] = data["key"] if isinstance(data.get("key"), dict) else data
    update: dict[str, Any] = data["update"] if isinstance(data.get("update"), dict) else data
    target = key.get("keyId") or key.get("id")
    if not isinstance(target, str) or not target:
        raise ValueError("receipt without a message id")
    chat = chat_of(key.get("remoteJid"), key.get("remoteJidAlt")) or ""
    message = update.get("message")
    if isinstance(message, dict) and message:
        return _edit_by_update(target, chat, message, update, ctx)
    status = update.get("status")
    if status == "DELETED":
        return [MessageRevoked(MessageRevoke(target, chat, ctx.received_at))]
    number = to_int(status)
    receipt = _RECEIPTS.get(number if number is not None else str(status).upper())
    if receipt is None:  # SERVER_ACK (the send's answer said it), PENDING, ERROR
        return []
    at = to_datetime(update.get("datetime")) or to_datetime(update.get("messageTimestamp"))
    return [ReceiptReceived((target,), receipt, chat, at or ctx.received_at)]


def _edit_by_update(
    target: str, chat: str, message: dict[str, Any], update: dict[str, Any], ctx: _Context
) -> list[TransportEvent]:
    """A ``messages.update`` carrying new content: Baileys reports an edit as the target's
    key with ``update.message = {"editedMessage": {"message": <new content>}}``."""
    inner = c.unwrap(message)
    at = to_datetime(update.get("messageTimestamp")) or ctx.received_at
    if c.kind_of(inner) == "protocolMessage":
        where = Addressing(chat, _chat_type(chat), chat, None, None, None)
        return _protocol(inner["protocolMessage"], where, at, update)
    text = c.text_of(inner)
    if text is None:
        return []  # poll votes and other content changes wagate does not track
    return [MessageEdited(MessageEdit(target, chat, text, at))]


# --------------------------------------------------------------------------- connection


def connection_events(state: Any, status_reason: Any, data: dict[str, Any]) -> list[TransportEvent]:
    """An Evolution connection state (webhook or REST) as Connected / Disconnected."""
    state = str(state or "").lower()
    code = to_int(status_reason)
    if state == "open":
        wuid = data.get("wuid") or data.get("ownerJid") or data.get("owner")
        name = data.get("profileName")
        return [Connected(phone_of(wuid) if isinstance(wuid, str) else None, _text(name))]
    if state == "refused":  # Evolution gave up waiting for a scan (its QR limit)
        return [Disconnected(408, "qr_timeout")]
    if state == "close":
        return [Disconnected(code if code and code >= 400 else 428, "evolution: connection closed")]
    return []  # "connecting": Evolution is (re)connecting by itself; wait for the outcome


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _connection(data: dict[str, Any], ctx: _Context) -> list[TransportEvent]:
    return connection_events(data.get("state"), data.get("statusReason"), data)


def _qrcode(data: dict[str, Any], ctx: _Context) -> list[TransportEvent]:
    qr: dict[str, Any] = data["qrcode"] if isinstance(data.get("qrcode"), dict) else data
    code = qr.get("code")
    if isinstance(code, str) and code:
        return [QrUpdated(qr=code, expires_at=ctx.received_at + QR_TTL)]
    if "limit" in str(data.get("message", "")).lower():
        return [Disconnected(408, "qr_timeout")]
    raise ValueError("QR update without a code")


def _presence(data: dict[str, Any], ctx: _Context) -> list[TransportEvent]:
    chat = chat_of(data.get("id"))
    presences = data.get("presences")
    if chat is None or not isinstance(presences, dict):
        raise ValueError("presence update without 'id' and 'presences'")
    events: list[TransportEvent] = []
    for participant, info in presences.items():
        state = _PRESENCE.get(str((info or {}).get("lastKnownPresence", "")).lower())
        who = person_of(participant)
        if state is not None:
            events.append(PresenceChanged(chat, who.jid if who else str(participant), state))
    return events


def _call(data: dict[str, Any], ctx: _Context) -> list[TransportEvent]:
    if data.get("status") not in (None, "offer"):
        return []
    call_id, caller = data.get("id"), data.get("from")
    if not isinstance(call_id, str) or not isinstance(caller, str):
        raise ValueError("call without 'id' and 'from'")
    who = person_of(caller)
    at = to_datetime(data.get("date")) or parse_iso(data.get("date")) or ctx.received_at
    return [CallReceived(call_id, who.jid if who else caller, data.get("isVideo") is True, at)]


_GROUP_CHANGES: dict[str, GroupChange] = {
    "add": "joined",
    "remove": "left",
    "promote": "promoted",
    "demote": "demoted",
}


def _group_participants(data: dict[str, Any], ctx: _Context) -> list[TransportEvent]:
    """``GROUP_PARTICIPANTS_UPDATE``: ``{id, participants, action, author?}``."""
    group, action = data["id"], data["action"]
    if not isinstance(group, str) or action not in _GROUP_CHANGES:
        raise ValueError(f"group change {action!r} in {group!r}")
    people = []
    for person in data.get("participants") or []:  # JIDs, or {id, phoneNumber} in newer ones
        jid = person.get("phoneNumber") or person.get("id") if isinstance(person, dict) else person
        if isinstance(jid, str):
            people.append(jid)
    author = data.get("author")
    by = author if isinstance(author, str) and author else None
    return [GroupChanged(group, _GROUP_CHANGES[action], ctx.received_at, tuple(people), by)]


_HANDLERS = {
    "group.participants.update": _group_participants,
    "messages.upsert": _message_events,
    "messages.edited": _edited_event,
    "messages.update": _update,
    "messages.delete": _deleted,
    "connection.update": _connection,
    "qrcode.updated": _qrcode,
    "presence.update": _presence,
    "call": _call,
}
