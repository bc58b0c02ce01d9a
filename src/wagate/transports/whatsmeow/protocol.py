"""The wire between the supervisor (API process) and an engine host (subprocess).

Both ends speak length-prefixed frames over a Unix socket pair::

    +----------------+----------------+--------------------+-------------+
    | header length  | blob length    | header (JSON)      | blob        |
    | uint32 BE      | uint32 BE      | UTF-8              | raw bytes   |
    +----------------+----------------+--------------------+-------------+

The header is a small JSON object; the blob carries bytes that would be
wasteful as base64 (outbound media, inbound media downloaded by the host).
Three kinds of header travel:

* a request, parent to host: ``{"rid": 7, "op": "send", "session": "...", ...}``;
* its answer, host to parent: ``{"rid": 7, "ok": true, "result": ...}`` or
  ``{"rid": 7, "ok": false, "error": {"kind", "code", "message"}}``;
* an event, host to parent: ``{"event": {...}, "session": "..."}``.

Events are wagate's own normalized :data:`~wagate.domain.TransportEvent` values,
encoded here, because normalization happens in the host (see
:mod:`wagate.transports.whatsmeow.normalize`). Only a QR code travels raw
(``{"type": "Qr"}``): its expiry comes from the parent's injected clock.

This module imports nothing of neonize: the parent uses it too.
"""

from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wagate.domain import (
    CallReceived,
    Conflict,
    Connected,
    ConnectionGone,
    ContactCard,
    CredentialsUpdated,
    DecryptFailed,
    Disconnected,
    IdentityLearned,
    InboundMedia,
    InboundMessage,
    InvalidRequest,
    Jid,
    Location,
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
    Poll,
    PollVoted,
    PresenceChanged,
    PresenceState,
    Reaction,
    ReceiptReceived,
    TransientSendError,
    TransportError,
    TransportEvent,
    Unparseable,
    UnsupportedByTransport,
    WagateError,
)
from wagate.domain.groups import GroupChanged

_PREFIX = struct.Struct(">II")
MAX_HEADER = 16 * 1024 * 1024
MAX_BLOB = 512 * 1024 * 1024


class ProtocolError(Exception):
    """The other end sent something that is not a frame of this protocol."""


@dataclass(frozen=True, slots=True)
class Frame:
    header: dict[str, Any]
    blob: bytes = b""


def encode_frame(header: dict[str, Any], blob: bytes = b"") -> bytes:
    body = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if len(body) > MAX_HEADER or len(blob) > MAX_BLOB:
        raise ProtocolError("frame too large")
    return _PREFIX.pack(len(body), len(blob)) + body + blob


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """The next frame; None when the other end closed cleanly between frames."""
    try:
        prefix = await reader.readexactly(_PREFIX.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ProtocolError("stream ended inside a frame prefix") from None
        return None
    header_len, blob_len = _PREFIX.unpack(prefix)
    if header_len > MAX_HEADER or blob_len > MAX_BLOB:
        raise ProtocolError(f"frame too large ({header_len}+{blob_len} bytes)")
    try:
        body = await reader.readexactly(header_len)
        blob = await reader.readexactly(blob_len) if blob_len else b""
    except asyncio.IncompleteReadError:
        raise ProtocolError("stream ended inside a frame") from None
    try:
        header = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"frame header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not an object")
    return Frame(header, blob)


# --------------------------------------------------------------------------- errors

_ERROR_KINDS: dict[str, type[WagateError]] = {
    "gone": ConnectionGone,
    "transient": TransientSendError,
    "permanent": PermanentSendError,
    "transport": TransportError,
    "unsupported": UnsupportedByTransport,
    "invalid": InvalidRequest,
    "conflict": Conflict,
}


def error_to_wire(exc: BaseException) -> dict[str, Any]:
    """An exception raised in the host, as the answer's ``error`` object."""
    if isinstance(exc, WagateError):
        kind = next(
            (k for k, cls in _ERROR_KINDS.items() if type(exc) is cls),
            "permanent" if isinstance(exc, PermanentSendError) else "transport",
        )
        return {"kind": kind, "code": exc.code, "message": exc.message}
    return {"kind": "transport", "code": "engine_error", "message": f"{type(exc).__name__}: {exc}"}


def error_from_wire(error: dict[str, Any]) -> WagateError:
    cls = _ERROR_KINDS.get(str(error.get("kind")), TransportError)
    code = error.get("code")
    return cls(str(error.get("message") or "engine error"), code=str(code) if code else None)


# --------------------------------------------------------------------------- outbound messages


def outgoing_to_wire(message: OutgoingMessage) -> tuple[dict[str, Any], bytes]:
    header: dict[str, Any] = {
        "message_id": message.message_id,
        "wa_message_id": message.wa_message_id,
        "to": message.to,
        "type": message.type.value,
        "text": message.text,
        "location": message.location.model_dump() if message.location else None,
        "contact": message.contact.model_dump() if message.contact else None,
        "reaction": message.reaction.model_dump() if message.reaction else None,
        "poll": message.poll.model_dump() if message.poll else None,
        "reply_to": message.reply_to,
        "target": message.target,
    }
    blob = b""
    if message.media is not None:
        header["media"] = {
            "mime_type": message.media.mime_type,
            "file_name": message.media.file_name,
        }
        blob = message.media.data
    return header, blob


def outgoing_from_wire(header: dict[str, Any], blob: bytes) -> OutgoingMessage:
    media = header.get("media")
    return OutgoingMessage(
        message_id=str(header["message_id"]),
        wa_message_id=str(header.get("wa_message_id") or ""),
        to=Jid(str(header["to"])),
        type=MessageType(header["type"]),
        text=header.get("text"),
        media=(
            OutgoingMedia(data=blob, mime_type=media["mime_type"], file_name=media.get("file_name"))
            if isinstance(media, dict)
            else None
        ),
        location=Location.model_validate(header["location"]) if header.get("location") else None,
        contact=ContactCard.model_validate(header["contact"]) if header.get("contact") else None,
        reaction=Reaction.model_validate(header["reaction"]) if header.get("reaction") else None,
        poll=Poll.model_validate(header["poll"]) if header.get("poll") else None,
        reply_to=header.get("reply_to"),
        target=header.get("target"),
    )


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class RawQr:
    """A QR code as the host saw it; the parent turns it into ``QrUpdated``."""

    code: str
    index: int  # 0 for the first code of a login attempt (it lives longer)


def _dt(value: datetime) -> str:
    return value.isoformat()


def _parse_dt(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def event_to_wire(event: TransportEvent | RawQr) -> tuple[dict[str, Any], bytes]:
    """A normalized event as a JSON object, and the bytes of its media if any."""
    name = type(event).__name__
    match event:
        case RawQr():
            return {"type": name, "code": event.code, "index": event.index}, b""
        case MessageReceived():
            data: dict[str, Any] = {
                "type": name,
                "message": event.message.model_dump(mode="json"),
                "raw": event.message.raw,
            }
            if event.media is None:
                return data, b""
            data["media"] = {"mime_type": event.media.mime_type, "file_name": event.media.file_name}
            return data, event.media.data
        case MessageEdited():
            e = event.edit
            return {
                "type": name,
                "target": e.target_wa_message_id,
                "chat_id": e.chat_id,
                "text": e.text,
                "timestamp": _dt(e.timestamp),
            }, b""
        case MessageRevoked():
            r = event.revoke
            return {
                "type": name,
                "target": r.target_wa_message_id,
                "chat_id": r.chat_id,
                "timestamp": _dt(r.timestamp),
            }, b""
        case PollVoted():
            return {
                "type": name,
                "poll": event.poll_wa_message_id,
                "chat_id": event.chat_id,
                "voter": event.voter,
                "timestamp": _dt(event.timestamp),
                "options": None if event.options is None else list(event.options),
                "hashes": None
                if event.option_hashes is None
                else [h.hex() for h in event.option_hashes],
            }, b""
        case GroupChanged():
            return {
                "type": name,
                "group": event.group,
                "change": event.change,
                "timestamp": _dt(event.timestamp),
                "participants": list(event.participants),
                "by": event.by,
                "value": event.value,
            }, b""
        case ReceiptReceived():
            return {
                "type": name,
                "ids": list(event.wa_message_ids),
                "status": event.status.value,
                "chat_id": event.chat_id,
                "timestamp": _dt(event.timestamp),
            }, b""
        case PresenceChanged():
            return {
                "type": name,
                "chat_id": event.chat_id,
                "participant": event.participant,
                "state": event.state.value,
            }, b""
        case CallReceived():
            return {
                "type": name,
                "call_id": event.call_id,
                "caller": event.caller,
                "video": event.video,
                "timestamp": _dt(event.timestamp),
            }, b""
        case (
            PairingCodeIssued()
            | CredentialsUpdated()
            | Connected()
            | Disconnected()
            | IdentityLearned()
            | DecryptFailed()
            | Unparseable()
        ):
            fields = {f: getattr(event, f) for f in event.__dataclass_fields__}
            return {"type": name, **fields}, b""
    raise ProtocolError(f"no wire form for {name}")


_SIMPLE: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        PairingCodeIssued,
        CredentialsUpdated,
        Connected,
        Disconnected,
        IdentityLearned,
        DecryptFailed,
        Unparseable,
    )
}


def event_from_wire(data: dict[str, Any], blob: bytes) -> TransportEvent | RawQr:
    kind = data.get("type")
    fields = {k: v for k, v in data.items() if k != "type"}
    if kind == "RawQr":
        return RawQr(code=str(data["code"]), index=int(data["index"]))
    if kind == "MessageReceived":
        message = InboundMessage.model_validate(data["message"])
        message.raw = data.get("raw")
        media = data.get("media")
        inbound = (
            InboundMedia(data=blob, mime_type=media["mime_type"], file_name=media.get("file_name"))
            if isinstance(media, dict)
            else None
        )
        return MessageReceived(message, inbound)
    if kind == "MessageEdited":
        return MessageEdited(
            MessageEdit(
                target_wa_message_id=data["target"],
                chat_id=data["chat_id"],
                text=data["text"],
                timestamp=_parse_dt(data["timestamp"]),
            )
        )
    if kind == "MessageRevoked":
        return MessageRevoked(
            MessageRevoke(
                target_wa_message_id=data["target"],
                chat_id=data["chat_id"],
                timestamp=_parse_dt(data["timestamp"]),
            )
        )
    if kind == "PollVoted":
        options, hashes = data.get("options"), data.get("hashes")
        return PollVoted(
            poll_wa_message_id=data["poll"],
            chat_id=data["chat_id"],
            voter=data["voter"],
            timestamp=_parse_dt(data["timestamp"]),
            options=None if options is None else tuple(options),
            option_hashes=None if hashes is None else tuple(bytes.fromhex(h) for h in hashes),
        )
    if kind == "GroupChanged":
        return GroupChanged(
            group=data["group"],
            change=data["change"],
            timestamp=_parse_dt(data["timestamp"]),
            participants=tuple(data["participants"]),
            by=data.get("by"),
            value=data.get("value"),
        )
    if kind == "ReceiptReceived":
        return ReceiptReceived(
            wa_message_ids=tuple(data["ids"]),
            status=MessageStatus(data["status"]),
            chat_id=data["chat_id"],
            timestamp=_parse_dt(data["timestamp"]),
        )
    if kind == "PresenceChanged":
        return PresenceChanged(
            chat_id=data["chat_id"],
            participant=data["participant"],
            state=PresenceState(data["state"]),
        )
    if kind == "CallReceived":
        return CallReceived(
            call_id=data["call_id"],
            caller=data["caller"],
            video=bool(data["video"]),
            timestamp=_parse_dt(data["timestamp"]),
        )
    cls = _SIMPLE.get(str(kind))
    if cls is None:
        raise ProtocolError(f"unknown event type {kind!r}")
    event: TransportEvent = cls(**fields)
    return event
