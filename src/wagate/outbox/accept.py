"""Accepting an outbound message: validate, resolve, refuse, store as ``queued``, commit.

Nothing is transmitted here. The API answers 202 once the row is committed,
and the session's sender takes it from the database. Guardrails that delay
(rate, bursts, quiet hours, daily cap) belong to the sender; the ones that
refuse (opt-out, duplicate text) are applied here, before anything is stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import (
    MEDIA_TYPES,
    ChatType,
    Clock,
    Conflict,
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
    phone_of,
    split_jid,
)
from wagate.domain.policy import DeliveryPolicy, resolve_policy
from wagate.domain.urls import check_url_syntax, ensure_public_url
from wagate.store import Database
from wagate.store.media import MediaStore
from wagate.store.models import Message, Session
from wagate.store.repositories import contacts, idempotency, messages
from wagate.store.repositories.idempotency import ClaimState
from wagate.transports import TransportRegistry

log = structlog.get_logger("wagate.outbox")


@dataclass(frozen=True, slots=True)
class AcceptSettings:
    media_max_bytes: int
    allow_private_urls: bool
    idempotency_ttl_s: float = 86400.0
    """How long a completed ``Idempotency-Key`` replays its message."""
    idempotency_stale_after_s: float = 60.0
    """An in-flight key older than this is taken to be abandoned (its process died)."""


def request_hash(request: OutboundMessageRequest) -> str:
    """SHA-256 of the request's canonical JSON; absent and null fields hash alike."""
    body = request.model_dump(mode="json", exclude_none=True)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class _ClaimLost(Exception):
    """Our idempotency claim was taken over while we processed the request."""


class OutboundAcceptor:
    """Validate, apply the accept-side guardrails, store as queued.

    Guardrails that refuse (rather than delay) live here: a recipient who
    opted out (422 ``recipient_opted_out``) and the same text to the same chat
    within the policy's ``duplicate_window_s`` (409 ``duplicate_message``).
    """

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        media: MediaStore,
        registry: TransportRegistry,
        settings: AcceptSettings,
        policy_defaults: DeliveryPolicy,
    ) -> None:
        self.db = db
        self.clock = clock
        self.media = media
        self.registry = registry
        self.settings = settings
        self.policy_defaults = policy_defaults

    def policy_for(self, session: Session) -> DeliveryPolicy:
        return resolve_policy(self.policy_defaults, session.settings or {})

    async def accept(
        self, session: Session, request: OutboundMessageRequest, idempotency_key: str | None
    ) -> tuple[Message, bool]:
        """Store the message as queued. Returns (message, created); created is False on a replay.

        With an ``idempotency_key`` the key is claimed and committed first; the
        message and the key's completion then commit together. A failure
        releases the key, so the client can retry with it.
        """
        fingerprint = request_hash(request)
        if not idempotency_key:
            return await self._store(session, request, fingerprint, None, None), True
        key = idempotency_key
        claim = await self._claim(session.id, key, fingerprint)
        if claim.state is not ClaimState.CLAIMED:
            return await self._answer_claim(claim), False
        try:
            row = await self._store(session, request, fingerprint, key, claim.claimed_at)
        except _ClaimLost:
            return await self._after_lost_claim(session.id, key, fingerprint), False
        except IntegrityError:
            replay = await self._after_key_conflict(session.id, key, fingerprint, claim.claimed_at)
            if replay is None:
                raise
            return replay, False
        except BaseException:
            await self._release(session.id, key, claim.claimed_at)
            raise
        return row, True

    # ------------------------------------------------------------------ idempotency

    async def _claim(self, session_id: str, key: str, fingerprint: str) -> idempotency.Claim:
        async with self.db.transaction() as tx:
            return await idempotency.claim(
                tx,
                session_id=session_id,
                key=key,
                request_hash=fingerprint,
                now=self.clock.now(),
                ttl_s=self.settings.idempotency_ttl_s,
                stale_after_s=self.settings.idempotency_stale_after_s,
            )

    async def _answer_claim(self, claim: idempotency.Claim) -> Message:
        if claim.state is ClaimState.REUSED:
            raise InvalidRequest(
                "this Idempotency-Key was used with a different request body",
                code="idempotency_key_reused",
            )
        if claim.state is ClaimState.IN_FLIGHT or claim.message_id is None:
            raise Conflict(
                "a request with this Idempotency-Key is still being processed; retry later",
                code="idempotency_key_in_flight",
            )
        async with self.db.read() as tx:
            return await messages.get_message(tx, claim.message_id, None)

    async def _release(self, session_id: str, key: str, claimed_at: datetime) -> None:
        """Best effort: if this fails too, the claim goes stale and is taken over later."""
        try:
            async with self.db.transaction() as tx:
                await idempotency.release(tx, session_id=session_id, key=key, claimed_at=claimed_at)
        except Exception as exc:
            log.warning("could not release an idempotency key", key=key, error=repr(exc))

    async def _after_lost_claim(self, session_id: str, key: str, fingerprint: str) -> Message:
        async with self.db.read() as tx:
            current = await idempotency.get_key(tx, session_id, key)
        if current is not None and current.message_id and current.request_hash == fingerprint:
            return await self._answer_claim(
                idempotency.Claim(ClaimState.COMPLETED, current.created_at, current.message_id)
            )
        raise Conflict(
            "a request with this Idempotency-Key is still being processed; retry later",
            code="idempotency_key_in_flight",
        )

    async def _after_key_conflict(
        self, session_id: str, key: str, fingerprint: str, claimed_at: datetime
    ) -> Message | None:
        """The safety net fired: a message already holds this key. Adopt it or refuse."""
        async with self.db.read() as tx:
            existing = await _by_idempotency_key(tx, session_id, key)
        if existing is None:
            await self._release(session_id, key, claimed_at)
            return None
        if existing.request_hash and existing.request_hash != fingerprint:
            await self._release(session_id, key, claimed_at)
            raise InvalidRequest(
                "this Idempotency-Key was used with a different request body",
                code="idempotency_key_reused",
            )
        async with self.db.transaction() as tx:
            await idempotency.complete(
                tx,
                session_id=session_id,
                key=key,
                claimed_at=claimed_at,
                message_id=existing.id,
                now=self.clock.now(),
                ttl_s=self.settings.idempotency_ttl_s,
            )
        return existing

    # ------------------------------------------------------------------ storing

    async def _store(
        self,
        session: Session,
        request: OutboundMessageRequest,
        fingerprint: str,
        idempotency_key: str | None,
        claimed_at: datetime | None,
    ) -> Message:
        policy = self.policy_for(session)
        capabilities = self.registry.capabilities(session.transport)
        if request.type not in capabilities.message_types:
            capabilities.require(f"sending {request.type.value} messages", False)
        destination = normalize_destination(request.to)
        message_id = new_id("msg")
        media_json = await self._media(session.id, message_id, request)
        now = self.clock.now()
        ttl_s = request.ttl_s if request.ttl_s is not None else policy.message_ttl_s
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
            expires_at=now + timedelta(seconds=ttl_s),
            idempotency_key=idempotency_key,
            request_hash=fingerprint,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.db.transaction() as tx:
                lid = split_jid(destination)[0] if is_lid(destination) else None
                if lid is not None:
                    phone = await contacts.phone_for_lid(tx, session.id, lid)
                    if phone:
                        row.chat_id = phone_jid(phone)
                await _refuse_opted_out(tx, session.id, phone_of(row.chat_id), lid)
                if request.type is MessageType.TEXT and policy.duplicate_window_s > 0:
                    await _refuse_duplicate(tx, row, policy.duplicate_window_s, now)
                row.reply_to = await _resolve_ref(tx, session.id, request.reply_to)
                if request.reaction is not None:
                    target = await _resolve_ref(tx, session.id, request.reaction.message_id)
                    row.reaction = {"message_id": target, "emoji": request.reaction.emoji or None}
                await messages.add_outbound(tx, row)
                if idempotency_key is not None and claimed_at is not None:
                    completed = await idempotency.complete(
                        tx,
                        session_id=session.id,
                        key=idempotency_key,
                        claimed_at=claimed_at,
                        message_id=row.id,
                        now=now,
                        ttl_s=self.settings.idempotency_ttl_s,
                    )
                    if not completed:
                        raise _ClaimLost()
        except BaseException:
            self._discard_media(session.id, message_id, media_json)
            raise
        return row

    def _discard_media(
        self, session_id: str, message_id: str, media: dict[str, Any] | None
    ) -> None:
        """A message that was not stored leaves no file behind."""
        if media is None or media.get("size") is None:
            return
        path = self.media.find(session_id, message_id, media.get("mime_type"))
        if path is not None:
            path.unlink(missing_ok=True)

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


async def _refuse_opted_out(
    tx: AsyncSession, session_id: str, phone: str | None, lid: str | None
) -> None:
    """422 ``recipient_opted_out`` when the contact, known by phone or by lid, opted out."""
    for found in (
        await contacts.find_contact(tx, session_id, phone=phone) if phone else None,
        await contacts.find_contact(tx, session_id, lid=lid) if lid else None,
    ):
        if found is not None and found.opted_out_at is not None:
            who = f"+{found.phone}" if found.phone else f"{found.lid}@lid"
            raise InvalidRequest(
                f"{who} opted out of messages from this session "
                f"(at {found.opted_out_at.isoformat()})",
                code="recipient_opted_out",
            )


async def _refuse_duplicate(tx: AsyncSession, row: Message, window_s: float, now: datetime) -> None:
    """409 ``duplicate_message`` for the same text to the same chat within the window."""
    assert row.text is not None
    await messages.lock_chat(tx, row.session_id, row.chat_id)
    earlier = await messages.find_recent_duplicate(
        tx,
        session_id=row.session_id,
        chat_id=row.chat_id,
        text_value=row.text,
        since=now - timedelta(seconds=window_s),
    )
    if earlier is not None:
        raise Conflict(
            f"the same text was sent to {row.chat_id} as message {earlier.id} at "
            f"{earlier.created_at.isoformat()}; identical texts to one chat need "
            f"{window_s:g} s between them (or an Idempotency-Key to replay the first)",
            code="duplicate_message",
        )


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
