"""Cloud API webhook notification -> wagate's transport events. Pure functions.

A notification (``{"object": "whatsapp_business_account", "entry": [...]}``)
carries entries, each with changes; a ``messages`` change has a ``value``
with ``metadata.phone_number_id`` (which session it is for), ``contacts``
(profile names), and any number of ``messages``, ``statuses`` and
``errors``. Every one of them is read: libraries that take only the first
message of a change lose the rest.

People are identified by phone number (``from``, ``contacts[].wa_id``) when
Meta shares it. A user with a username may arrive with only a business-scoped
user id (BSUID: ``from_user_id`` on the message, ``user_id`` on the contact,
``recipient_user_id`` on a status) and ``profile.username``; such a person's
``sender`` and ``chat_id`` are ``<BSUID>@bsuid`` and their ``push_name`` is the
profile name, or the username when there is none.

With Coexistence (the number also used in the WhatsApp Business app), the
``smb_message_echoes`` field reports what the business typed in the app; those
become ``from_me`` messages, so a human answering from the phone is seen.

A message of a type this module does not know becomes ``type=unsupported``
(kept, with the payload in ``raw``); only a message without an id, a
timestamp or any sender becomes :class:`Unparseable`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wagate.domain import (
    ChatType,
    ContactCard,
    InboundMessage,
    Location,
    MediaInfo,
    MessageEdit,
    MessageEdited,
    MessageReceived,
    MessageRevoke,
    MessageRevoked,
    MessageStatus,
    MessageType,
    Reaction,
    ReceiptReceived,
    TransportEvent,
    Unparseable,
    group_jid,
    phone_jid,
)
from wagate.transports.cloud.errors import rule_for

SOURCE = "cloud"
BSUID_SERVER = "bsuid"
ECHOES_FIELD = "smb_message_echoes"  # Coexistence: messages typed in the Business app

Routed = tuple[str, TransportEvent]  # (phone_number_id, event)

_MEDIA_KINDS = {
    "image": MessageType.IMAGE,
    "video": MessageType.VIDEO,
    "audio": MessageType.AUDIO,
    "document": MessageType.DOCUMENT,
    "sticker": MessageType.STICKER,
}
_STATUSES = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "played": MessageStatus.PLAYED,
    "failed": MessageStatus.FAILED,
}


def bsuid_jid(user_id: str) -> str:
    """The chat and sender id of a person known only by their business-scoped user id."""
    return f"{user_id}@{BSUID_SERVER}"


def normalize_notification(payload: Any) -> list[Routed]:
    """Every event of a notification, each with the phone number id it is for.

    Raises ``ValueError`` when the payload is not a notification at all (no
    ``entry`` list). A change without a phone number id yields its events with
    an empty id, which the caller cannot route and logs.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise ValueError("not a WhatsApp Business notification: no 'entry' list")
    routed: list[Routed] = []
    for entry in payload["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            routed.append(("", _unparseable("entry without a 'changes' list", entry)))
            continue
        for change in changes:
            routed.extend(normalize_change(change))
    return routed


def normalize_change(change: Any) -> list[Routed]:
    """The events of one change. Fields other than ``messages`` carry no events for us."""
    if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
        return [("", _unparseable("change without a 'value' object", change))]
    field = change.get("field", "messages")
    if field not in ("messages", ECHOES_FIELD):
        return []
    value: dict[str, Any] = change["value"]
    metadata = value.get("metadata")
    phone_number_id = (
        str(metadata.get("phone_number_id") or "") if isinstance(metadata, dict) else ""
    )
    contacts = [c for c in _list(value.get("contacts")) if isinstance(c, dict)]
    events: list[TransportEvent] = []
    for message in _list(value.get("messages")):
        events.append(_message_event(message, contacts))
    for echo in _list(value.get("message_echoes")):
        events.append(_echo_event(echo))
    for status in _list(value.get("statuses")):
        events.append(_status_event(status))
    errors = _list(value.get("errors"))
    if errors and not events:
        code, title = _first_error(errors)
        events.append(Unparseable(SOURCE, f"Meta reported error {code}: {title}", _as_dict(value)))
    return [(phone_number_id, event) for event in events]


# --------------------------------------------------------------------------- messages


def _message_event(message: Any, contacts: list[dict[str, Any]]) -> TransportEvent:
    if not isinstance(message, dict):
        return _unparseable("message is not an object", message)
    wa_id = message.get("id")
    if not isinstance(wa_id, str) or not wa_id:
        return _unparseable("message without an 'id'", message)
    try:
        timestamp = _timestamp(message.get("timestamp"))
        who = _sender(message, contacts)
    except ValueError as exc:
        return _unparseable(str(exc), message)
    kind = message.get("type")
    if kind == "edit":
        edit = _as_dict(message.get("edit"))
        target = edit.get("original_message_id")
        if isinstance(target, str) and target:
            inner = _as_dict(edit.get("message"))
            text = _content_text(inner, str(inner.get("type") or "")) or ""
            return MessageEdited(MessageEdit(target, who.chat_id, text, timestamp))
    if kind == "revoke":
        target = _as_dict(message.get("revoke")).get("original_message_id")
        if isinstance(target, str) and target:
            return MessageRevoked(MessageRevoke(target, who.chat_id, timestamp))
    fields = _content(message, str(kind or ""))
    context = _as_dict(message.get("context"))
    reply_to = context.get("id") if isinstance(context.get("id"), str) else None
    inbound = InboundMessage(
        wa_message_id=wa_id,
        chat_id=who.chat_id,
        chat_type=who.chat_type,
        sender=who.sender,
        sender_phone=who.phone,
        push_name=who.push_name,
        from_me=False,
        timestamp=timestamp,
        reply_to=reply_to,
        raw=message,
        **fields,
    )
    return MessageReceived(inbound)


def _echo_event(echo: Any) -> TransportEvent:
    """A message the business typed in the WhatsApp Business app (Coexistence): ``from_me``."""
    if not isinstance(echo, dict):
        return _unparseable("message echo is not an object", echo)
    wa_id = _str(echo.get("id"))
    own = _digits(echo.get("from"))
    peer = _digits(echo.get("to"))
    peer_user = _str(echo.get("to_user_id"))
    if not wa_id or not own or not (peer or peer_user):
        return _unparseable("message echo without an id, a sender or a recipient", echo)
    peer_id = phone_jid(peer) if peer else bsuid_jid(peer_user or "")
    try:
        timestamp = _timestamp(echo.get("timestamp"))
    except ValueError as exc:
        return _unparseable(str(exc), echo)
    context = _as_dict(echo.get("context"))
    inbound = InboundMessage(
        wa_message_id=wa_id,
        chat_id=peer_id,
        chat_type=ChatType.DIRECT,
        sender=phone_jid(own),
        sender_phone=own,
        from_me=True,
        timestamp=timestamp,
        reply_to=_str(context.get("id")),
        raw=echo,
        **_content(echo, str(echo.get("type") or "")),
    )
    return MessageReceived(inbound)


class _Sender:
    def __init__(
        self, sender: str, phone: str | None, push_name: str | None, chat_id: str, group: bool
    ) -> None:
        self.sender = sender
        self.phone = phone
        self.push_name = push_name
        self.chat_id = chat_id
        self.chat_type = ChatType.GROUP if group else ChatType.DIRECT


def _sender(message: dict[str, Any], contacts: list[dict[str, Any]]) -> _Sender:
    phone = _digits(message.get("from"))
    user_id = _str(message.get("from_user_id"))
    contact = _contact_for(message, contacts, phone, user_id)
    phone = phone or _digits(contact.get("wa_id"))
    user_id = user_id or _str(contact.get("user_id"))
    profile = _as_dict(contact.get("profile"))
    push_name = _str(profile.get("name")) or _str(profile.get("username"))
    push_name = push_name or _str(message.get("username"))
    sender: str
    if phone:
        sender = phone_jid(phone)
    elif user_id:
        sender = bsuid_jid(user_id)
    else:
        raise ValueError("message without a sender: no 'from', 'from_user_id' or contact")
    group_id = _str(message.get("group_id"))
    chat_id = group_jid(group_id) if group_id else sender
    return _Sender(sender, phone, push_name, chat_id, group=bool(group_id))


def _contact_for(
    message: dict[str, Any],
    contacts: list[dict[str, Any]],
    phone: str | None,
    user_id: str | None,
) -> dict[str, Any]:
    """The ``contacts`` entry of the message's sender; the only one when there is one."""
    for contact in contacts:
        if phone and _digits(contact.get("wa_id")) == phone:
            return contact
        if user_id and _str(contact.get("user_id")) == user_id:
            return contact
    if len(contacts) == 1 and not (phone and user_id):
        return contacts[0]
    return {}


def _content(message: dict[str, Any], kind: str) -> dict[str, Any]:
    """type, text, media, location, contacts and reaction of a message (by its ``type``)."""
    body = message.get(kind)
    if kind == "text":
        text = _str(_as_dict(body).get("body"))
        if text is not None:
            return {"type": MessageType.TEXT, "text": text}
    elif kind in _MEDIA_KINDS and isinstance(body, dict) and _str(body.get("id")):
        voice = kind == "audio" and body.get("voice") is True
        media = MediaInfo(
            mime_type=_str(body.get("mime_type")),
            file_name=_str(body.get("filename")),
            voice=voice,
        )
        kind_type = MessageType.VOICE if voice else _MEDIA_KINDS[kind]
        return {"type": kind_type, "text": _str(body.get("caption")), "media": media}
    elif kind == "location" and isinstance(body, dict):
        try:
            location = Location(
                latitude=float(body["latitude"]),
                longitude=float(body["longitude"]),
                name=_str(body.get("name")),
                address=_str(body.get("address")),
            )
        except (KeyError, TypeError, ValueError):
            pass
        else:
            return {"type": MessageType.LOCATION, "location": location}
    elif kind == "contacts" and isinstance(body, list):
        cards = [card for card in map(_contact_card, body) if card is not None]
        return {"type": MessageType.CONTACTS, "contacts": cards or None}
    elif kind == "reaction" and isinstance(body, dict) and _str(body.get("message_id")):
        emoji = _str(body.get("emoji")) or None  # empty or missing: the reaction was removed
        reaction = Reaction(message_id=str(body["message_id"]), emoji=emoji)
        return {"type": MessageType.REACTION, "reaction": reaction}
    elif kind in ("interactive", "button"):
        title = _content_text(message, kind)
        if title is not None:
            return {"type": MessageType.INTERACTIVE, "text": title}
    return {"type": MessageType.UNSUPPORTED, "text": _content_text(message, kind)}


def _content_text(message: dict[str, Any], kind: str) -> str | None:
    """The text a person sees: a body, a caption, a reply's title, a system notice."""
    body = _as_dict(message.get(kind))
    if kind == "text":
        return _str(body.get("body"))
    if kind in _MEDIA_KINDS:
        return _str(body.get("caption"))
    if kind == "interactive":
        for reply_kind in ("button_reply", "list_reply"):
            reply = _as_dict(body.get(reply_kind))
            if reply:
                return _str(reply.get("title")) or _str(reply.get("id"))
        flow = _as_dict(body.get("nfm_reply"))
        if flow:
            return _str(flow.get("body")) or _str(flow.get("name")) or "flow reply"
        return None
    if kind == "button":
        return _str(body.get("text")) or _str(body.get("payload"))
    if kind == "system":
        return _str(body.get("body"))
    return None


def _contact_card(card: Any) -> ContactCard | None:
    if not isinstance(card, dict):
        return None
    name_part = _as_dict(card.get("name"))
    name = _str(name_part.get("formatted_name")) or _str(name_part.get("first_name"))
    phones = [p for p in _list(card.get("phones")) if isinstance(p, dict)]
    phone = next((_str(p.get("wa_id")) or _str(p.get("phone")) for p in phones), None)
    if not phone:
        return None
    try:
        return ContactCard(name=(name or phone)[:256], phone=phone[:64])
    except ValueError:
        return None


# --------------------------------------------------------------------------- statuses


def _status_event(status: Any) -> TransportEvent:
    if not isinstance(status, dict):
        return _unparseable("status is not an object", status)
    wa_id = _str(status.get("id"))
    kind = _STATUSES.get(str(status.get("status") or "").lower())
    if not wa_id or kind is None:
        return _unparseable(f"status {status.get('status')!r} not understood", status)
    try:
        timestamp = _timestamp(status.get("timestamp"))
    except ValueError as exc:
        return _unparseable(str(exc), status)
    recipient = _digits(status.get("recipient_id"))
    group_id = _str(status.get("recipient_id")) if status.get("recipient_type") == "group" else None
    user_id = _str(status.get("recipient_user_id")) or _str(status.get("user_id"))
    chat_id: str
    if group_id:
        chat_id = group_jid(group_id)
    elif recipient:
        chat_id = phone_jid(recipient)
    else:
        chat_id = bsuid_jid(user_id) if user_id else ""
    error_code = error_message = None
    if kind is MessageStatus.FAILED:
        code, title = _first_error(_list(status.get("errors")))
        error_code = rule_for(code).code if code is not None else "send_failed"
        error_message = f"{title} (Graph error {code})" if code is not None else title
    return ReceiptReceived(
        wa_message_ids=(wa_id,),
        status=kind,
        chat_id=chat_id,
        timestamp=timestamp,
        error_code=error_code,
        error_message=error_message,
    )


# --------------------------------------------------------------------------- media


def media_id_of(message: InboundMessage) -> str | None:
    """The Graph media id of an inbound message's attachment, to download it by."""
    raw = message.raw or {}
    body = raw.get(str(raw.get("type") or ""))
    if isinstance(body, dict) and raw.get("type") in _MEDIA_KINDS:
        return _str(body.get("id"))
    return None


# --------------------------------------------------------------------------- helpers


def _first_error(errors: list[Any]) -> tuple[int | None, str]:
    for error in errors:
        if isinstance(error, dict):
            try:
                code = int(error["code"])
            except (KeyError, TypeError, ValueError):
                code = None
            details = _as_dict(error.get("error_data")).get("details")
            title = _str(error.get("title")) or _str(error.get("message")) or "failed"
            if isinstance(details, str) and details and details != title:
                title = f"{title}: {details}"
            return code, title
    return None, "failed without an error code"


def _timestamp(value: Any) -> datetime:
    try:
        seconds = int(str(value))
    except (TypeError, ValueError):
        raise ValueError(f"timestamp {value!r} is not a Unix time") from None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"timestamp {value!r} is out of range") from None


def _unparseable(reason: str, payload: Any) -> Unparseable:
    return Unparseable(SOURCE, reason, payload if isinstance(payload, dict) else {"value": payload})


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _digits(value: Any) -> str | None:
    text = _str(value)
    if text is None:
        return None
    text = text.removeprefix("+")
    return text if text.isdigit() and 6 <= len(text) <= 20 else None
