"""wagate's events in Evolution API v2's webhook shapes, for clients written against Evolution.

A webhook set through ``/evolution/webhook/set`` names Evolution's events
(``MESSAGES_UPSERT``, ...). :data:`SOURCES` says which of wagate's events each one is
made from, so the subscription matches those; :class:`EvolutionFormat` then decides, per
event, whether it is one the client asked for and renders the body Evolution would
post: ``{"event": "messages.upsert", "instance", "data", "destination", "date_time",
"sender", "server_url", "apikey"}``.

The message shapes (:func:`message_content`, :func:`message_data`) are Baileys' protobuf
JSON as Evolution forwards it (``conversation``, ``imageMessage``, ...), shared with the
answers of the ``/evolution`` send routes. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wagate.domain import SessionStatus
from wagate.domain.messages import ContactCard
from wagate.domain.qr import qr_data_url
from wagate.domain.vcard import vcard

# Evolution's event names (its ``EventController.events``), with the wagate events that
# become each. Names with no source are accepted and never sent: wagate has no such event.
SOURCES: dict[str, tuple[str, ...]] = {
    "APPLICATION_STARTUP": (),
    "QRCODE_UPDATED": ("session.qr", "session.pairing_code"),
    "MESSAGES_SET": (),
    "MESSAGES_UPSERT": ("message.received",),
    "MESSAGES_EDITED": ("message.updated",),
    "MESSAGES_UPDATE": ("message.status",),
    "MESSAGES_DELETE": ("message.updated",),
    "SEND_MESSAGE": ("message.sent",),
    "SEND_MESSAGE_UPDATE": (),
    "CONTACTS_SET": (),
    "CONTACTS_UPSERT": (),
    "CONTACTS_UPDATE": (),
    "PRESENCE_UPDATE": ("presence",),
    "CHATS_SET": (),
    "CHATS_UPSERT": (),
    "CHATS_UPDATE": (),
    "CHATS_DELETE": (),
    "GROUPS_UPSERT": (),
    "GROUP_UPDATE": ("group.updated",),
    "GROUP_PARTICIPANTS_UPDATE": ("group.participants",),
    "CONNECTION_UPDATE": ("session.status",),
    "LABELS_EDIT": (),
    "LABELS_ASSOCIATION": (),
    "CALL": ("call",),
    "TYPEBOT_START": (),
    "TYPEBOT_CHANGE_STATUS": (),
    "REMOVE_INSTANCE": (),
    "LOGOUT_INSTANCE": (),
    "INSTANCE_CREATE": (),
    "INSTANCE_DELETE": (),
    "STATUS_INSTANCE": (),
}
EVENT_NAMES = tuple(SOURCES)

# The ``event`` each one goes out as (Evolution's ``Events`` enum).
WIRE_NAMES = {
    "QRCODE_UPDATED": "qrcode.updated",
    "MESSAGES_UPSERT": "messages.upsert",
    "MESSAGES_EDITED": "messages.edited",
    "MESSAGES_UPDATE": "messages.update",
    "MESSAGES_DELETE": "messages.delete",
    "SEND_MESSAGE": "send.message",
    "PRESENCE_UPDATE": "presence.update",
    "GROUP_UPDATE": "groups.update",
    "GROUP_PARTICIPANTS_UPDATE": "group-participants.update",
    "CONNECTION_UPDATE": "connection.update",
    "CALL": "call",
}

_SIMPLE = {
    "session.qr": "QRCODE_UPDATED",
    "session.pairing_code": "QRCODE_UPDATED",
    "message.received": "MESSAGES_UPSERT",
    "message.status": "MESSAGES_UPDATE",
    "message.sent": "SEND_MESSAGE",
    "presence": "PRESENCE_UPDATE",
    "group.updated": "GROUP_UPDATE",
    "group.participants": "GROUP_PARTICIPANTS_UPDATE",
    "session.status": "CONNECTION_UPDATE",
    "call": "CALL",
}
_CHANGES = {"edited": "MESSAGES_EDITED", "revoked": "MESSAGES_DELETE"}
_CHANGE_TYPES = ("edit", "revoke")  # rows of their own; the target's update is announced

_PARTS = {
    "image": "imageMessage",
    "video": "videoMessage",
    "audio": "audioMessage",
    "voice": "audioMessage",
    "document": "documentMessage",
    "sticker": "stickerMessage",
}
_CAPTIONED = ("image", "video", "document")

_RECEIPTS = {
    "queued": "PENDING",
    "sending": "PENDING",
    "sent": "SERVER_ACK",
    "delivered": "DELIVERY_ACK",
    "read": "READ",
    "played": "PLAYED",
    "failed": "ERROR",
}

_STATES = {
    SessionStatus.CONNECTED.value: "open",
    SessionStatus.STARTING.value: "connecting",
    SessionStatus.QR.value: "connecting",
    SessionStatus.RECONNECTING.value: "connecting",
}

_GROUP_ACTIONS = {"joined": "add", "left": "remove", "promoted": "promote", "demoted": "demote"}
_GROUP_FIELDS = {"subject": "subject", "description": "desc", "announce": "announce"}


def state_of(status: str) -> str:
    """A session's status as Evolution's connection state: ``open``, ``connecting``,
    ``close``."""
    return _STATES.get(status, "close")


def evolution_event(event_type: str, data: Mapping[str, Any]) -> str | None:
    """The Evolution event a wagate event is, or None for one Evolution has no word for."""
    if event_type == "message.updated":
        return _CHANGES.get(str(data.get("change")))
    if event_type == "message.sent" and data.get("type") in _CHANGE_TYPES:
        return None  # Evolution announces the edited (or deleted) message instead
    return _SIMPLE.get(event_type)


def wagate_types(names: Iterable[str]) -> list[str]:
    """The wagate event types a subscription to Evolution's ``names`` must match."""
    return sorted({source for name in names for source in SOURCES.get(name, ())})


def unix(value: str | None) -> int:
    """An ISO 8601 time as Evolution's ``messageTimestamp`` (Unix seconds; 0 when unknown)."""
    if not value:
        return 0
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def jid_of(phone: str | None) -> str | None:
    return f"{phone}@s.whatsapp.net" if phone else None


# --------------------------------------------------------------------------- messages


def message_key(message: Mapping[str, Any]) -> dict[str, Any]:
    """Evolution's ``key``: the chat, who sent it, and the WhatsApp id (wagate's id while
    none is known yet)."""
    key: dict[str, Any] = {
        "remoteJid": message.get("chat_id"),
        "fromMe": bool(message.get("from_me") or message.get("direction") == "out"),
        "id": message.get("wa_message_id") or message.get("id"),
    }
    if message.get("chat_type") == "group" and message.get("sender"):
        key["participant"] = message["sender"]
    return key


def message_content(message: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Baileys' ``message`` object for a wagate message, and its ``messageType``."""
    kind = str(message.get("type"))
    text = message.get("text")
    context = {"stanzaId": message["reply_to"]} if message.get("reply_to") else None
    if kind in _PARTS:
        return _media(message, kind, context)
    part: dict[str, Any]
    if kind == "location":
        where = message.get("location") or {}
        part = {
            "degreesLatitude": where.get("latitude"),
            "degreesLongitude": where.get("longitude"),
            "name": where.get("name"),
            "address": where.get("address"),
        }
        return _with_context({"locationMessage": part}, "locationMessage", context)
    if kind in ("contact", "contacts"):
        return _contacts(message.get("contacts") or [])
    if kind == "reaction":
        reaction = message.get("reaction") or {}
        part = {
            "key": {
                "remoteJid": message.get("chat_id"),
                "fromMe": True,  # the usual case; wagate keeps the target's id only
                "id": reaction.get("message_id"),
            },
            "text": reaction.get("emoji") or "",
        }
        return {"reactionMessage": part}, "reactionMessage"
    if kind == "poll":
        poll = message.get("poll") or {}
        part = {
            "name": poll.get("name"),
            "options": [{"optionName": name} for name in poll.get("options") or []],
            "selectableOptionsCount": poll.get("selectable_count", 1),
        }
        return {"pollCreationMessageV3": part}, "pollCreationMessageV3"
    if context is not None:
        extended = {"text": text or "", "contextInfo": context}
        return {"extendedTextMessage": extended}, "extendedTextMessage"
    return {"conversation": text or ""}, "conversation"


def _media(
    message: Mapping[str, Any], kind: str, context: dict[str, Any] | None
) -> tuple[dict[str, Any], str]:
    media = message.get("media") or {}
    part: dict[str, Any] = {
        "url": media.get("url"),
        "mimetype": media.get("mime_type"),
        "fileSha256": media.get("sha256"),
        "fileLength": media.get("size"),
    }
    if kind in _CAPTIONED:
        part["caption"] = message.get("text")
    if kind == "document":
        part["fileName"] = media.get("file_name")
    if kind in ("audio", "voice"):
        part["ptt"] = kind == "voice" or bool(media.get("voice"))
    name = _PARTS[kind]
    content, name = _with_context({name: part}, name, context)
    if media.get("base64"):  # the webhook asked for files inline (``webhook_base64``)
        content["base64"] = media["base64"]
    return content, name


def _with_context(
    content: dict[str, Any], name: str, context: dict[str, Any] | None
) -> tuple[dict[str, Any], str]:
    if context is not None:
        content[name]["contextInfo"] = context
    return content, name


def _contacts(cards: list[Mapping[str, Any]]) -> tuple[dict[str, Any], str]:
    entries = [
        {
            "displayName": card["name"],
            "vcard": vcard(ContactCard(name=str(card["name"]), phone=str(card["phone"]))),
        }
        for card in cards
        if card.get("name") and card.get("phone")
    ]
    if len(entries) == 1:
        return {"contactMessage": entries[0]}, "contactMessage"
    array = {"displayName": f"{len(entries)} contacts", "contacts": entries}
    return {"contactsArrayMessage": array}, "contactsArrayMessage"


def message_data(message: Mapping[str, Any], instance_id: str) -> dict[str, Any]:
    """A message as ``messages.upsert`` and ``send.message`` carry it, and as the send
    routes answer."""
    content, message_type = message_content(message)
    data: dict[str, Any] = {
        "key": message_key(message),
        "pushName": message.get("push_name") or "",
        "status": _RECEIPTS.get(str(message.get("status")), "DELIVERY_ACK"),
        "message": content,
        "messageType": message_type,
        "messageTimestamp": unix(message.get("timestamp") or message.get("created_at")),
        "instanceId": instance_id,
        "source": "unknown",
    }
    if message.get("reply_to"):
        data["contextInfo"] = {"stanzaId": message["reply_to"]}
    return data


# --------------------------------------------------------------------------- events


def _receipt(data: Mapping[str, Any], instance_id: str) -> dict[str, Any]:
    return {
        "messageId": data.get("message_id"),
        "keyId": data.get("wa_message_id"),
        "remoteJid": data.get("chat_id"),
        "fromMe": True,
        "participant": None,
        "status": _RECEIPTS.get(str(data.get("status")), "SERVER_ACK"),
        "instanceId": instance_id,
    }


def _changed(change: str, data: Mapping[str, Any]) -> dict[str, Any]:
    if change == "MESSAGES_DELETE":
        return {**message_key(data), "status": "DELETED"}
    return {
        "key": message_key(data),
        "type": "MESSAGE_EDIT",
        "editedMessage": {"conversation": data.get("text") or ""},
        "timestampMs": str(unix(data.get("edited_at")) * 1000),
    }


def _connection(data: Mapping[str, Any], instance: str, profile_name: str | None) -> dict[str, Any]:
    status = str(data.get("status"))
    state = state_of(status)
    reason = 200 if state == "open" else 401 if status == SessionStatus.LOGGED_OUT.value else 428
    return {
        "instance": instance,
        "wuid": jid_of(data.get("phone")),
        "profileName": profile_name,
        "profilePictureUrl": None,
        "state": state,
        "statusReason": reason,
    }


def _qrcode(event_type: str, data: Mapping[str, Any], instance: str) -> dict[str, Any]:
    code = data.get("qr") if event_type == "session.qr" else None
    return {
        "qrcode": {
            "instance": instance,
            "pairingCode": data.get("code") if event_type == "session.pairing_code" else None,
            "code": code,
            "base64": qr_data_url(str(code)) if code else None,
        }
    }


def _presence(data: Mapping[str, Any]) -> dict[str, Any]:
    who = data.get("participant") or data.get("chat_id")
    return {"id": data.get("chat_id"), "presences": {who: {"lastKnownPresence": data.get("state")}}}


def _call(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "chatId": data.get("from"),
        "from": data.get("from"),
        "id": data.get("call_id"),
        "date": data.get("timestamp"),
        "isVideo": bool(data.get("video")),
        "isGroup": False,
        "status": "offer",
        "offline": False,
    }


def _group(name: str, data: Mapping[str, Any]) -> dict[str, Any] | list[dict[str, Any]]:
    change = str(data.get("change"))
    if name == "GROUP_PARTICIPANTS_UPDATE":
        return {
            "id": data.get("group"),
            "author": data.get("by"),
            "participants": list(data.get("participants") or []),
            "action": _GROUP_ACTIONS.get(change, change),
        }
    update: dict[str, Any] = {"id": data.get("group"), "author": data.get("by")}
    if change == "locked":
        update["restrict"] = data.get("value")
    else:
        update[_GROUP_FIELDS.get(change, change)] = data.get("value")
    return [update]  # Baileys' groups.update is a list of partial groups


@dataclass(frozen=True, slots=True)
class Instance:
    """What Evolution's envelope says about the instance: its name, id, own number and
    profile name, and the token a client calls back with (None: there is none)."""

    name: str
    id: str
    phone: str | None = None
    profile_name: str | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class EvolutionFormat:
    """One webhook's Evolution options: the events it asked for, and ``webhook_by_events``
    (each event to ``<url>/<event-name>``, e.g. ``/messages-upsert``)."""

    events: frozenset[str]
    by_events: bool = False

    def accepts(self, event_type: str, data: Mapping[str, Any]) -> bool:
        name = evolution_event(event_type, data)
        return name is not None and name in self.events

    def url(self, base: str, name: str) -> str:
        """Where the event goes: ``base``, or with ``by_events`` ``base/messages-upsert``
        (the wire name with dots as dashes, as Evolution builds it)."""
        if not self.by_events:
            return base
        return f"{base.rstrip('/')}/{WIRE_NAMES[name].replace('.', '-')}"

    def render(
        self,
        payload: Mapping[str, Any],
        instance: Instance,
        *,
        destination: str,
        server_url: str | None,
    ) -> tuple[str, dict[str, Any]] | None:
        """The event's Evolution name and body, from wagate's webhook body (``type``,
        ``timestamp``, ``data``); None for an event this webhook does not send."""
        event_type = str(payload.get("type"))
        data: Mapping[str, Any] = payload.get("data") or {}
        name = evolution_event(event_type, data)
        if name is None or name not in self.events:
            return None
        body = {
            "event": WIRE_NAMES[name],
            "instance": instance.name,
            "data": _data(name, event_type, data, instance),
            "destination": destination,
            "date_time": payload.get("timestamp"),
            "sender": jid_of(instance.phone),
            "server_url": server_url,
            "apikey": instance.token,
        }
        return name, body


def _data(
    name: str, event_type: str, data: Mapping[str, Any], instance: Instance
) -> dict[str, Any] | list[dict[str, Any]]:
    match name:
        case "MESSAGES_UPSERT" | "SEND_MESSAGE":
            return message_data(data, instance.id)
        case "MESSAGES_UPDATE":
            return _receipt(data, instance.id)
        case "MESSAGES_EDITED" | "MESSAGES_DELETE":
            return _changed(name, data)
        case "CONNECTION_UPDATE":
            return _connection(data, instance.name, instance.profile_name)
        case "QRCODE_UPDATED":
            return _qrcode(event_type, data, instance.name)
        case "PRESENCE_UPDATE":
            return _presence(data)
        case "CALL":
            return _call(data)
        case _:
            return _group(name, data)
