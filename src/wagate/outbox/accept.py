"""Accepting an outbound message: validate, resolve, store as ``queued``, commit.

Nothing is transmitted here. The API answers 202 once the row is committed,
and the session's sender takes it from the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import (
    MEDIA_TYPES,
    ChatType,
    Clock,
    Direction,
    InvalidRequest,
    MessageStatus,
    MessageType,
    OutboundMessageRequest,
    is_group,
    is_lid,
    new_id,
    new_wa_message_id,
    normalize_destination,
    phone_jid,
    split_jid,
)
from wagate.domain.urls import check_url_syntax, ensure_public_url
from wagate.store import Database
from wagate.store.media import MediaStore
from wagate.store.models import Message, Session
from wagate.store.repositories import contacts, messages
from wagate.transports import TransportRegistry


@dataclass(frozen=True, slots=True)
class AcceptSettings:
    message_ttl_s: float
    media_max_bytes: int
    allow_private_urls: bool


def request_hash(request: OutboundMessageRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class OutboundAcceptor:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        media: MediaStore,
        registry: TransportRegistry,
        settings: AcceptSettings,
    ) -> None:
        self.db = db
        self.clock = clock
        self.media = media
        self.registry = registry
        self.settings = settings

    async def accept(
        self, session: Session, request: OutboundMessageRequest, idempotency_key: str | None
    ) -> tuple[Message, bool]:
        """Store the message as queued. Returns (message, created); created is False on a replay."""
        fingerprint = request_hash(request)
        if idempotency_key:
            async with self.db.read() as tx:
                existing = await _by_idempotency_key(tx, session.id, idempotency_key)
            if existing is not None:
                return _replay(existing, fingerprint), False

        capabilities = self.registry.capabilities(session.transport)
        if request.type not in capabilities.message_types:
            capabilities.require(f"sending {request.type.value} messages", False)
        destination = normalize_destination(request.to)
        message_id = new_id("msg")
        media_json = await self._media(session.id, message_id, request)
        now = self.clock.now()
        row = Message(
            id=message_id,
            tenant_id=session.tenant_id,
            session_id=session.id,
            direction=Direction.OUT.value,
            wa_message_id=new_wa_message_id() if capabilities.choose_message_id else None,
            chat_id=destination,
            chat_type=(ChatType.GROUP if is_group(destination) else ChatType.DIRECT).value,
            sender=phone_jid(session.phone) if session.phone else None,
            sender_phone=session.phone,
            from_me=True,
            type=request.type.value,
            text=request.text
            if request.type is MessageType.TEXT
            else (request.media.caption if request.media else request.text),
            media=media_json,
            location=request.location.model_dump() if request.location else None,
            contacts=[request.contact.model_dump()] if request.contact else None,
            timestamp=now,
            status=MessageStatus.QUEUED.value,
            request=_request_record(request),
            humanize=request.humanize,
            attempts=0,
            expires_at=now + timedelta(seconds=self.settings.message_ttl_s),
            idempotency_key=idempotency_key,
            request_hash=fingerprint,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.db.transaction() as tx:
                if is_lid(destination):
                    phone = await contacts.phone_for_lid(tx, session.id, split_jid(destination)[0])
                    if phone:
                        row.chat_id = phone_jid(phone)
                row.reply_to = await _resolve_ref(tx, session.id, request.reply_to)
                if request.reaction is not None:
                    target = await _resolve_ref(tx, session.id, request.reaction.message_id)
                    row.reaction = {"message_id": target, "emoji": request.reaction.emoji or None}
                await messages.add_outbound(tx, row)
        except IntegrityError:
            if not idempotency_key:
                raise
            async with self.db.read() as tx:
                existing = await _by_idempotency_key(tx, session.id, idempotency_key)
            if existing is None:
                raise
            return _replay(existing, fingerprint), False
        return row, True

    async def _media(
        self, session_id: str, message_id: str, request: OutboundMessageRequest
    ) -> dict[str, Any] | None:
        if request.type not in MEDIA_TYPES or request.media is None:
            return None
        media = request.media
        mime = media.mime_type or _default_mime(request.type)
        info: dict[str, Any] = {
            "mime_type": mime,
            "file_name": media.file_name,
            "size": None,
            "url": f"/v1/messages/{message_id}/media",
            "voice": request.type is MessageType.VOICE,
        }
        if media.base64 is not None:
            data = _decode_base64(media.base64)
            if len(data) > self.settings.media_max_bytes:
                raise InvalidRequest(
                    f"media is {len(data)} bytes; the limit is {self.settings.media_max_bytes}",
                    code="media_too_large",
                )
            stored = self.media.save(session_id, message_id, data, mime)
            info.update(size=stored.size, sha256=stored.sha256)
        else:
            assert media.url is not None
            check_url_syntax(media.url)
            await ensure_public_url(media.url, allow_private=self.settings.allow_private_urls)
            info["source_url"] = media.url
        return info


def _replay(existing: Message, fingerprint: str) -> Message:
    if existing.request_hash and existing.request_hash != fingerprint:
        raise InvalidRequest(
            "this Idempotency-Key was used with a different request body",
            code="idempotency_key_reused",
        )
    return existing


async def _by_idempotency_key(tx: AsyncSession, session_id: str, key: str) -> Message | None:
    query = select(Message).where(Message.session_id == session_id, Message.idempotency_key == key)
    return (await tx.scalars(query)).first()


async def _resolve_ref(tx: AsyncSession, session_id: str, ref: str | None) -> str | None:
    """A wagate message id becomes its WhatsApp id; anything else is taken as a WhatsApp id."""
    if ref is None:
        return None
    target = await messages.resolve_reference(tx, session_id, ref)
    if target is not None and target.wa_message_id:
        return target.wa_message_id
    if ref.startswith("msg_"):
        raise InvalidRequest(f"message {ref!r} not found in this session", code="unknown_message")
    return ref


def _decode_base64(value: str) -> bytes:
    payload = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("media.base64 is not valid base64", code="invalid_media") from None


def _default_mime(kind: MessageType) -> str:
    return {
        MessageType.IMAGE: "image/jpeg",
        MessageType.VIDEO: "video/mp4",
        MessageType.AUDIO: "audio/mpeg",
        MessageType.VOICE: "audio/ogg; codecs=opus",
        MessageType.DOCUMENT: "application/octet-stream",
        MessageType.STICKER: "image/webp",
    }[kind]


def _request_record(request: OutboundMessageRequest) -> dict[str, Any]:
    """The request as stored: base64 payloads are replaced by their size (the file is on disk)."""
    record = request.model_dump(mode="json", exclude_none=True)
    media = record.get("media")
    if isinstance(media, dict) and "base64" in media:
        media["base64"] = f"<{len(media['base64'])} base64 chars stored as a file>"
    return record
