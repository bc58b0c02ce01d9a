"""Turning one session's transport events into committed rows and events.

Each handler runs one transaction: the change and the event that announces
it commit together, and only then are listeners woken.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wagate.domain import (
    CallReceived,
    Clock,
    IdentityLearned,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    PollVoted,
    PresenceChanged,
    ReceiptReceived,
    TransportEvent,
    Unparseable,
    new_id,
    phone_of,
    split_jid,
)
from wagate.domain.groups import GroupChanged
from wagate.domain.policy import DeliveryPolicy, resolve_policy
from wagate.observability import Metrics, log
from wagate.sessions.hooks import SessionHooks
from wagate.sessions.inbound import Arrival, Receipt
from wagate.sessions.status import SessionWrites
from wagate.store import AsyncSession, Database
from wagate.store.media import MediaStore
from wagate.store.models import Session
from wagate.store.repositories import contacts, events, messages, polls
from wagate.store.serialize import iso, message_json
from wagate.store.session_rows import session_row


@dataclass(slots=True)
class SessionRef:
    session_id: str
    tenant_id: str


class EventRecorder:
    """Stores what a session's transport reports: messages, receipts, presence, calls."""

    def __init__(
        self,
        ref: SessionRef,
        *,
        db: Database,
        clock: Clock,
        media: MediaStore,
        hooks: SessionHooks,
        metrics: Metrics,
        policy_defaults: DeliveryPolicy,
        writes: SessionWrites | None = None,
    ) -> None:
        self.ref = ref
        self.policy_defaults = policy_defaults
        self.db = db
        self.clock = clock
        self.media = media
        self.hooks = hooks
        self.metrics = metrics
        writes = writes or SessionWrites.build(clock, hooks, db.session_rows)
        self._arrivals = writes.arrivals
        self._receipts = writes.receipts
        self._policy_of: tuple[Session, DeliveryPolicy] | None = None

    async def _event(self, tx: AsyncSession, type: str, data: dict[str, Any]) -> None:
        await events.append_event(
            tx,
            tenant_id=self.ref.tenant_id,
            session_id=self.ref.session_id,
            type=type,
            data=data,
            now=self.clock.now(),
        )

    async def record(self, event: TransportEvent) -> bool:
        """Store an event that needs no connection state; False for any other kind.

        Messages, receipts, edits, presence, calls and identities can be recorded by
        any worker (an ingest webhook may reach one that does not run the session);
        connection changes belong to the runtime that owns the session.
        """
        match event:
            case MessageReceived():
                await self.message(event)
            case ReceiptReceived():
                await self.receipt(event)
            case MessageEdited():
                await self.edit(event)
            case MessageRevoked():
                await self.revoke(event)
            case PollVoted():
                await self.poll_vote(event)
            case GroupChanged():
                await self.group_changed(event)
            case PresenceChanged():
                await self.presence(event)
            case CallReceived():
                await self.call(event)
            case IdentityLearned():
                await self.identity(event)
            case Unparseable():
                await self.unparseable(event)
            case _:
                return False
        return True

    async def queue(self, event: TransportEvent) -> Awaitable[Any] | None:
        """Queue a message or a receipt for the next group commit, in order; the awaitable
        completes once it is committed. None for any other event (record it whole)."""
        match event:
            case MessageReceived():
                return await self.queue_message(event)
            case ReceiptReceived():
                return self.queue_receipt(event)
            case _:
                return None

    async def message(self, event: MessageReceived) -> bool:
        """Store an inbound message once, with its batch; returns False for a duplicate."""
        return await (await self.queue_message(event))

    async def queue_message(self, event: MessageReceived) -> Awaitable[bool]:
        """Prepare and queue an inbound message; the awaitable says (after the commit)
        whether it was new (False: a duplicate)."""
        inbound = event.message
        message_id = new_id("msg")
        media_json: dict[str, Any] | None = None
        stored_file = None
        if inbound.media is not None or event.media is not None:
            media_json = inbound.media.model_dump() if inbound.media else {}
            if event.media is not None:
                stored_file = await self.media.save(
                    self.ref.session_id, message_id, event.media.data, event.media.mime_type
                )
                media_json.update(
                    mime_type=event.media.mime_type,
                    file_name=event.media.file_name or media_json.get("file_name"),
                    size=stored_file.size,
                    sha256=stored_file.sha256,
                    url=f"/v1/messages/{message_id}/media",
                )
        now = self.clock.now()
        direct_from_contact = inbound.chat_type.value == "direct" and not inbound.from_me
        arrival = Arrival(
            tenant_id=self.ref.tenant_id,
            row=messages.strip_nul(
                messages.inbound_row(
                    message_id=message_id,
                    tenant_id=self.ref.tenant_id,
                    session_id=self.ref.session_id,
                    inbound=inbound,
                    media=media_json,
                    now=now,
                )
            ),
            phone=inbound.sender_phone if direct_from_contact else None,
            lid=_lid_user(inbound.sender_lid) if direct_from_contact else None,
            push_name=inbound.push_name,
            policy=await self._policy() if direct_from_contact else self.policy_defaults,
        )
        future = self.db.batches.enqueue(self._arrivals, arrival)

        async def forget_file() -> None:
            if stored_file is not None and event.media is not None:
                await self.media.remove(self.ref.session_id, message_id, event.media.mime_type)

        async def committed() -> bool:
            try:
                stored = bool(await asyncio.shield(future))
            except Exception:  # not stored (a cancelled caller's message still commits)
                await forget_file()
                raise
            if not stored:
                await forget_file()
                log.debug("inbound duplicate ignored", wa_message_id=inbound.wa_message_id)
                return False
            self.metrics.messages_in.labels(inbound.type.value).inc()
            return True

        return committed()

    async def _policy(self) -> DeliveryPolicy:
        """The session's delivery policy (its opt-out keywords), from the session row cache."""
        row = await session_row(self.db, self.ref.session_id, None)
        if self._policy_of is None or self._policy_of[0] is not row:
            self._policy_of = (row, resolve_policy(self.policy_defaults, row.settings or {}))
        return self._policy_of[1]

    async def edit(self, event: MessageEdited) -> None:
        edit = event.edit
        async with self.db.transaction() as tx:
            row = await messages.find_by_wa_id(tx, self.ref.session_id, edit.target_wa_message_id)
            if row is None:
                log.info("edit of an unknown message", wa_message_id=edit.target_wa_message_id)
                return
            row.text = edit.text
            row.edited_at = edit.timestamp
            row.updated_at = self.clock.now()
            await tx.flush()
            await self._event(tx, "message.updated", {"change": "edited", **message_json(row)})
        self.hooks.events_committed()

    async def revoke(self, event: MessageRevoked) -> None:
        revoke = event.revoke
        async with self.db.transaction() as tx:
            row = await messages.find_by_wa_id(tx, self.ref.session_id, revoke.target_wa_message_id)
            if row is None:
                log.info("revoke of an unknown message", wa_message_id=revoke.target_wa_message_id)
                return
            row.revoked_at = revoke.timestamp
            row.updated_at = self.clock.now()
            await tx.flush()
            await self._event(tx, "message.updated", {"change": "revoked", **message_json(row)})
        self.hooks.events_committed()

    async def poll_vote(self, event: PollVoted) -> None:
        """Store a person's vote in one of the session's polls, recount it, and announce
        ``poll.vote`` with the tallies, in one transaction."""
        async with self.db.transaction() as tx:
            poll = await polls.poll_for_update(tx, self.ref.session_id, event.poll_wa_message_id)
            if poll is None:
                log.info("vote in an unknown poll", wa_message_id=event.poll_wa_message_id)
                return
            chosen = _chosen(poll.poll or {}, event)
            if not await polls.record_vote(tx, poll, event.voter, chosen, event.timestamp):
                return
            poll.updated_at = self.clock.now()
            await self._event(
                tx,
                "poll.vote",
                {
                    "message_id": poll.id,
                    "wa_message_id": poll.wa_message_id,
                    "chat_id": poll.chat_id,
                    "voter": event.voter,
                    "voter_phone": phone_of(event.voter),
                    "selected": chosen,
                    "tallies": (poll.poll or {}).get("tallies", []),
                    "timestamp": iso(event.timestamp),
                },
            )
        self.hooks.events_committed()

    async def group_changed(self, event: GroupChanged) -> None:
        """``group.participants`` (joined, left, promoted, demoted) or ``group.updated``
        (subject, description, announce, locked)."""
        people = event.change in ("joined", "left", "promoted", "demoted")
        async with self.db.transaction() as tx:
            await self._event(
                tx,
                "group.participants" if people else "group.updated",
                {
                    "group": event.group,
                    "change": event.change,
                    "participants": list(event.participants),
                    "by": event.by,
                    "value": event.value,
                    "timestamp": iso(event.timestamp),
                },
            )
        self.hooks.events_committed()

    async def receipt(self, event: ReceiptReceived, *, park_unknown: bool = True) -> int:
        """Move the messages forward, with their batch; returns how many moved.

        A receipt for an id no outbound message carries yet waits in
        ``unmatched_receipts`` (unless ``park_unknown`` is false): its message
        may be one whose send answer is still being committed.
        """
        return await self.queue_receipt(event, park_unknown=park_unknown)

    def queue_receipt(self, event: ReceiptReceived, *, park_unknown: bool = True) -> Awaitable[int]:
        """Queue a receipt; the awaitable gives (after the commit) how many messages moved."""
        op = Receipt(self.ref.tenant_id, self.ref.session_id, event, park_unknown)
        future = self.db.batches.enqueue(self._receipts, op)

        async def committed() -> int:
            moved: list[dict[str, Any]] = await asyncio.shield(future)
            for row in moved:
                self.metrics.messages_out.labels(row["type"], row["status"]).inc()
            return len(moved)

        return committed()

    async def presence(self, event: PresenceChanged) -> None:
        async with self.db.transaction() as tx:
            await self._event(
                tx,
                "presence",
                {
                    "chat_id": event.chat_id,
                    "participant": event.participant,
                    "state": event.state.value,
                },
            )
        self.hooks.events_committed()

    async def call(self, event: CallReceived) -> None:
        async with self.db.transaction() as tx:
            await self._event(
                tx,
                "call",
                {
                    "call_id": event.call_id,
                    "from": event.caller,
                    "from_phone": phone_of(event.caller),
                    "video": event.video,
                    "timestamp": iso(event.timestamp),
                },
            )
        self.hooks.events_committed()

    async def identity(self, event: IdentityLearned) -> None:
        async with self.db.transaction() as tx:
            await contacts.remember_contact(
                tx,
                self.ref.session_id,
                phone=event.phone,
                lid=_lid_user(event.lid),
                push_name=event.push_name,
                now=self.clock.now(),
            )

    async def unparseable(self, event: Unparseable) -> None:
        async with self.db.transaction() as tx:
            await events.add_dead_letter(
                tx,
                source=event.source,
                reason=event.reason,
                payload=_jsonable(event.payload),
                session_id=self.ref.session_id,
                now=self.clock.now(),
            )
        self.metrics.errors.labels("unparseable_payload").inc()
        log.warning("payload kept in dead letters", source=event.source, reason=event.reason)


def _lid_user(lid: str | None) -> str | None:
    """Contacts store the bare lid user part; accept ``123@lid`` or ``123``."""
    if not lid:
        return None
    return split_jid(lid)[0] if "@" in lid else lid


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _chosen(poll: dict[str, Any], vote: PollVoted) -> list[str]:
    """The poll's options the vote chose, in the poll's order: by name, or by the SHA-256
    of the name (all an engine may see of an encrypted vote). Anything else is ignored."""
    options: list[str] = list(poll.get("options", []))
    if vote.options is not None:
        named = set(vote.options)
        return [o for o in options if o in named]
    hashes = set(vote.option_hashes or ())
    return [o for o in options if hashlib.sha256(o.encode()).digest() in hashes]
