"""Accepting an outbound message: validate, prepare, then admit it with its batch and commit.

Nothing is transmitted here. The API answers 202 once the row is committed,
and the session's sender takes it from the database. Guardrails that delay
(rate, bursts, quiet hours, daily cap) belong to the sender; the ones that
refuse (opt-out, duplicate text) are applied when the batch is admitted
(:mod:`wagate.outbox.admission`), before anything is stored.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO, Protocol

import structlog

from wagate.domain import (
    MEDIA_TYPES,
    ChatType,
    Clock,
    Direction,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidRequest,
    MessageStatus,
    MessageType,
    OutboundMessageRequest,
    check_change_of,
    is_group,
    new_id,
    new_wa_message_id,
    normalize_destination,
    phone_jid,
)
from wagate.domain.policy import DeliveryPolicy, resolve_policy
from wagate.domain.urls import check_url_syntax, ensure_public_url
from wagate.outbox.admission import Admission, AdmissionKind, Admitted
from wagate.store import Database, IntegrityError
from wagate.store.media import MediaStore
from wagate.store.models import Message, Session
from wagate.store.repositories import messages
from wagate.store.serialize import message_json
from wagate.transports import TransportRegistry

log = structlog.get_logger("wagate.outbox")


@dataclass(frozen=True, slots=True)
class Accepted:
    """An accepted message as the API shows it; ``created`` is False for a replay."""

    id: str
    json: dict[str, Any]
    created: bool


BulkItem = tuple[OutboundMessageRequest, str | None] | Exception
"""A request and its idempotency key, or the error that kept it from parsing."""


class UploadedFile(Protocol):
    """A file uploaded with the request (multipart), spooled to a temporary file."""

    @property
    def file(self) -> BinaryIO: ...

    @property
    def size(self) -> int: ...


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
    return _hash_of(request.model_dump(mode="json", exclude_none=True))


def _hash_of(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class OutboundAcceptor:
    """Validate, apply the accept-side guardrails, store as queued.

    Each request is validated and prepared on its own (destination, media,
    the row); the checks that need the database, the idempotency key and the
    insert are decided for a whole batch of requests in one transaction
    (:mod:`wagate.outbox.admission`). Guardrails that refuse (rather than
    delay) are applied there: a recipient who opted out (422
    ``recipient_opted_out``) and the same text to the same chat within the
    policy's ``duplicate_window_s`` (409 ``duplicate_message``).
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
        self.admissions = AdmissionKind(clock.now)
        self._cleanups: set[asyncio.Task[bool]] = set()  # files of refused messages, going

    def policy_for(self, session: Session) -> DeliveryPolicy:
        return resolve_policy(self.policy_defaults, session.settings or {})

    async def accept(
        self,
        session: Session,
        request: OutboundMessageRequest,
        idempotency_key: str | None,
        upload: UploadedFile | None = None,
    ) -> Accepted:
        """Store the message as queued; ``created`` is False on a replay.

        With an ``idempotency_key``, the key is recorded with the message in
        the same transaction; a request that is refused leaves no key behind,
        so the client can retry with it.
        """
        admission = await self.prepare(session, request, idempotency_key or None, upload)
        return await self._settle(admission, self.db.batches.enqueue(self.admissions, admission))

    async def accept_many(
        self,
        session: Session,
        requests: list[BulkItem],
    ) -> list[Accepted | Exception]:
        """Accept several requests in order, together: one outcome per item, like :meth:`accept`.

        An item given as an exception (it did not parse) stays that exception.
        Every item is prepared first, then all are queued at once, so a
        thousand messages commit in a few transactions rather than a thousand.
        """
        prepared: list[Admission | Exception] = []
        for item in requests:
            if isinstance(item, Exception):
                prepared.append(item)
                continue
            try:
                prepared.append(await self.prepare(session, item[0], item[1] or None))
            except Exception as exc:
                prepared.append(exc)
        pending = [
            item
            if isinstance(item, Exception)
            else self._settle(item, self.db.batches.enqueue(self.admissions, item))
            for item in prepared
        ]
        outcomes: list[Accepted | Exception] = []
        for each in pending:
            if isinstance(each, Exception):
                outcomes.append(each)
                continue
            try:
                outcomes.append(await each)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    async def _settle(self, admission: Admission, outcome: asyncio.Future[Admitted]) -> Accepted:
        try:
            admitted = await asyncio.shield(outcome)
        except IntegrityError:
            self.discard(admission)
            if admission.key is None:
                raise
            existing = await self._after_key_conflict(admission)
            return Accepted(existing.id, message_json(existing), False)
        except Exception:  # refused: no row holds the file (a cancelled caller's write commits)
            self.discard(admission)
            raise
        return self.settled(admission, admitted)

    def settled(self, admission: Admission, outcome: Admitted | Exception) -> Accepted:
        """The answer for an admission applied in some batch: its message, or its refusal
        raised. A file saved for a message that was not stored (or a replay) is removed."""
        if isinstance(outcome, Exception):
            self.discard(admission)
            raise outcome
        if not outcome.created:
            self.discard(admission)
        record = outcome.message
        message_id = str(record["id"] if isinstance(record, dict) else record.id)
        return Accepted(message_id, message_json(record), outcome.created)

    async def _after_key_conflict(self, admission: Admission) -> Message:
        """The safety net fired: a message already holds this key. Replay it or refuse."""
        assert admission.key is not None
        async with self.db.read() as tx:
            existing = await messages.by_idempotency_key(tx, admission.session_id, admission.key)
        if existing is None:
            raise IdempotencyKeyInFlight()
        if existing.request_hash and existing.request_hash != admission.row["request_hash"]:
            raise IdempotencyKeyReused()
        return existing

    # ------------------------------------------------------------------ preparing

    async def prepare(
        self,
        session: Session,
        request: OutboundMessageRequest,
        key: str | None,
        upload: UploadedFile | None = None,
    ) -> Admission:
        """Everything that needs no database: the checks of the request itself, media, the row.

        The admission is then applied in a batch: :meth:`accept` does it alone; the
        conversation engine applies its replies with the close of their batch."""
        policy = self.policy_for(session)
        capabilities = self.registry.capabilities(session.transport)
        if request.type not in capabilities.message_types:
            capabilities.require(f"sending {request.type.value} messages", False)
        destination = normalize_destination(request.to)
        message_id = new_id("msg")
        media_json = await self._media(session.id, message_id, request, upload)
        ttl_s = request.ttl_s if request.ttl_s is not None else policy.message_ttl_s
        dumped = request.model_dump(mode="json", exclude_none=True)  # hashed, and stored
        if upload is not None and media_json is not None:  # a key replays the same file only
            dumped["media"]["sha256"] = media_json["sha256"]
        row = self._row(
            session,
            message_id,
            ttl_s,
            chat_id=destination,
            chat_type=(ChatType.GROUP if is_group(destination) else ChatType.DIRECT).value,
            type=request.type.value,
            text=_text_of(request),
            media=media_json,
            location=request.location.model_dump() if request.location else None,
            contacts=[request.contact.model_dump()] if request.contact else None,
            poll=_poll_record(request),
            request=_request_record(dumped),
            humanize=request.humanize,
            idempotency_key=key,
            request_hash=_hash_of(dumped),
        )
        return Admission(
            row=row,
            destination=destination,
            text_window_s=policy.duplicate_window_s
            if request.type is MessageType.TEXT and row["text"] is not None
            else 0.0,
            reply_ref=request.reply_to,
            reaction_ref=request.reaction.message_id if request.reaction else None,
            reaction_emoji=request.reaction.emoji if request.reaction else None,
            key=key,
            key_ttl_s=self.settings.idempotency_ttl_s,
            key_stale_after_s=self.settings.idempotency_stale_after_s,
        )

    def _row(
        self, session: Session, message_id: str, ttl_s: float, **fields: Any
    ) -> dict[str, Any]:
        """A queued outbound row of ``session``: the columns every outbound message shares,
        then ``fields``."""
        capabilities = self.registry.capabilities(session.transport)
        now = self.clock.now()
        return messages.message_row(
            id=message_id,
            tenant_id=session.tenant_id,
            session_id=session.id,
            direction=Direction.OUT.value,
            wa_message_id=new_wa_message_id() if capabilities.choose_message_id else None,
            sender=phone_jid(session.phone) if session.phone else None,
            sender_phone=session.phone,
            from_me=True,
            timestamp=now,
            status=MessageStatus.QUEUED.value,
            expires_at=now + timedelta(seconds=ttl_s),
            created_at=now,
            updated_at=now,
            **fields,
        )

    # ------------------------------------------------------------------ changes

    async def accept_change(
        self,
        session: Session,
        target: Message,
        kind: MessageType,
        text: str | None,
        key: str | None,
    ) -> Accepted:
        """Queue an edit (``text``) or a revoke of ``target``, a message ``session`` sent.

        The change is a row of its own in the target's chat lane, after the target, so
        it goes out once the target has (and is refused there if WhatsApp's window
        closed while it waited). Refused now with :class:`MessageNotChangeable` when
        WhatsApp would refuse it, and 422 ``unsupported_by_transport`` when the
        transport cannot change messages."""
        capabilities = self.registry.capabilities(session.transport)
        if kind not in capabilities.message_types:
            what = "editing messages" if kind is MessageType.EDIT else "deleting messages"
            capabilities.require(what, False)
        check_change_of(kind, target, self.clock.now())
        body: dict[str, Any] = {"type": kind.value, "target": target.id}
        if text is not None:
            body["text"] = text
        row = self._row(
            session,
            new_id("msg"),
            self.policy_for(session).message_ttl_s,
            chat_id=target.chat_id,
            chat_type=target.chat_type,
            type=kind.value,
            text=text,
            request=body,
            humanize=False,
            idempotency_key=key,
            request_hash=_hash_of(body),
        )
        admission = Admission(
            row=row,
            destination=target.chat_id,
            text_window_s=0.0,
            reply_ref=None,
            reaction_ref=None,
            reaction_emoji=None,
            key=key,
            key_ttl_s=self.settings.idempotency_ttl_s,
            key_stale_after_s=self.settings.idempotency_stale_after_s,
        )
        return await self._settle(admission, self.db.batches.enqueue(self.admissions, admission))

    def discard(self, admission: Admission) -> None:
        """Remove the file saved for a message that was not stored (or is a replay). In the
        background: the answer does not wait for the clean-up."""
        media = admission.row["media"]
        if media is None or media.get("size") is None:
            return
        removal = asyncio.get_running_loop().create_task(
            self.media.remove(admission.session_id, admission.row["id"], media.get("mime_type"))
        )
        self._cleanups.add(removal)
        removal.add_done_callback(self._cleanups.discard)

    async def _media(
        self,
        session_id: str,
        message_id: str,
        request: OutboundMessageRequest,
        upload: UploadedFile | None = None,
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
        if media.upload:
            if upload is None:
                raise InvalidRequest("media.upload needs the request's file", code="invalid_media")
            size = upload.size
            if size > self.settings.media_max_bytes:
                raise InvalidRequest(
                    f"the file is {size} bytes; the limit is {self.settings.media_max_bytes}",
                    code="media_too_large",
                )
            stored = await self.media.save_file(session_id, message_id, upload.file, mime)
            info.update(size=stored.size, sha256=stored.sha256)
        elif media.base64 is not None:
            data = _decode_base64(media.base64)
            if len(data) > self.settings.media_max_bytes:
                raise InvalidRequest(
                    f"media is {len(data)} bytes; the limit is {self.settings.media_max_bytes}",
                    code="media_too_large",
                )
            stored = await self.media.save(session_id, message_id, data, mime)
            info.update(size=stored.size, sha256=stored.sha256)
        else:
            assert media.url is not None
            check_url_syntax(media.url)
            await ensure_public_url(media.url, allow_private=self.settings.allow_private_urls)
            info["source_url"] = media.url
        return info


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


def _text_of(request: OutboundMessageRequest) -> str | None:
    """What the message says, as it is stored and searched: the text, a caption, the
    question of a poll, the body of buttons or a list."""
    if request.media is not None and request.type is not MessageType.TEXT:
        return request.media.caption
    if request.poll is not None:
        return request.poll.name
    if request.buttons is not None:
        return request.buttons.text
    if request.list is not None:
        return request.list.text
    return request.text


def _poll_record(request: OutboundMessageRequest) -> dict[str, Any] | None:
    """A poll as its message stores it: the question, with no votes yet."""
    if request.poll is None:
        return None
    tallies = [{"option": option, "votes": 0} for option in request.poll.options]
    return {**request.poll.model_dump(), "tallies": tallies}


def _request_record(body: dict[str, Any]) -> dict[str, Any]:
    """The request (its JSON dump) as stored: a base64 payload is replaced by its size (the
    file is on disk)."""
    media = body.get("media")
    if isinstance(media, dict) and "base64" in media:
        size = f"<{len(media['base64'])} base64 chars stored as a file>"
        return {**body, "media": {**media, "base64": size}}
    return body
