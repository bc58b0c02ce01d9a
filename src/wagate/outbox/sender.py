"""Per-session senders: take queued messages from the database and transmit them.

A message's WhatsApp id is fixed when it is accepted, so a message found in
``sending`` after a crash is simply transmitted again with the same id and
the network keeps one copy. Messages to one chat go out in the order they
were accepted; a message waiting for a retry holds back later messages of
its own chat only.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from wagate.domain import (
    Clock,
    ContactCard,
    Jid,
    Location,
    MessageStatus,
    MessageType,
    OutgoingMessage,
    PermanentSendError,
    Reaction,
    RetryStrategy,
    TransportError,
    is_lid,
    phone_jid,
    split_jid,
)
from wagate.observability import Metrics
from wagate.outbox.media import MediaLoader
from wagate.sessions import SessionManager, SessionRuntime
from wagate.store import Database
from wagate.store.models import Message
from wagate.store.repositories import contacts, events, messages
from wagate.store.serialize import iso, message_json

log = structlog.get_logger("wagate.outbox")

BATCH = 100


@dataclass(frozen=True, slots=True)
class SenderSettings:
    poll_s: float
    retry: RetryStrategy


async def wait_or_timeout(event: asyncio.Event, clock: Clock, timeout: float) -> None:
    """Return when ``event`` is set or ``timeout`` of the clock's time has passed."""
    if event.is_set():
        return
    waiter = asyncio.ensure_future(event.wait())
    sleeper = asyncio.ensure_future(clock.sleep(timeout))
    try:
        await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, sleeper):
            task.cancel()
        await asyncio.gather(waiter, sleeper, return_exceptions=True)


class Outbox:
    """Runs one sender task per connected session of this process."""

    def __init__(
        self,
        *,
        db: Database,
        manager: SessionManager,
        clock: Clock,
        loader: MediaLoader,
        settings: SenderSettings,
        metrics: Metrics,
        events_committed: Callable[[], None],
    ) -> None:
        self.db = db
        self.manager = manager
        self.clock = clock
        self.loader = loader
        self.settings = settings
        self.metrics = metrics
        self.events_committed = events_committed
        self._senders: dict[str, SessionSender] = {}
        self._stopping = False

    def wake(self, session_id: str) -> None:
        """There may be work for this session: start its sender or nudge it."""
        if self._stopping:
            return
        sender = self._senders.get(session_id)
        if sender is None or sender.done:
            runtime = self.manager.runtime(session_id)
            if runtime is None:
                return
            sender = SessionSender(self, runtime)
            self._senders[session_id] = sender
            sender.start()
        sender.wake()

    def policy_changed(self, session_id: str) -> None:
        """A session's delivery policy changed: its sender rereads it on its next pass."""
        self.wake(session_id)

    async def run(self) -> None:
        """Supervise: every poll, wake senders of local sessions that have open messages.

        This also finds messages enqueued by other processes sharing the database.
        """
        while True:
            try:
                async with self.db.read() as tx:
                    pending = await messages.sessions_with_open_outbound(tx)
                for session_id in pending:
                    if self.manager.runtime(session_id) is not None:
                        self.wake(session_id)
            except Exception as exc:
                log.error("outbox supervisor pass failed", error=str(exc))
            await self.clock.sleep(self.settings.poll_s)

    async def shutdown(self, timeout: float) -> None:
        """Let in-flight transmissions finish (up to ``timeout`` seconds), then stop."""
        self._stopping = True
        senders = list(self._senders.values())
        for sender in senders:
            sender.stopping = True
            sender.wake()
        tasks = [s.task for s in senders if s.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._senders.clear()


class SessionSender:
    def __init__(self, outbox: Outbox, runtime: SessionRuntime) -> None:
        self.outbox = outbox
        self.runtime = runtime
        self.session_id = runtime.session_id
        self.task: asyncio.Task[None] | None = None
        self.stopping = False
        self._wakeup = asyncio.Event()
        self._rng = random.Random()
        self.log = log.bind(session_id=self.session_id)

    @property
    def done(self) -> bool:
        return self.task is None or self.task.done()

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"sender:{self.session_id}"
        )

    def wake(self) -> None:
        self._wakeup.set()

    async def _run(self) -> None:
        try:
            while not self.stopping:
                if self.outbox.manager.runtime(self.session_id) is not self.runtime:
                    return  # the session stopped or was restarted; a new sender takes over
                self._wakeup.clear()
                next_due = await self._pass()
                if self.stopping:
                    return
                if next_due is None:  # nothing left: exit; wake() starts a new sender
                    return
                timeout = max(0.0, (next_due - self.outbox.clock.now()).total_seconds())
                await wait_or_timeout(
                    self._wakeup, self.outbox.clock, min(timeout, self.outbox.settings.poll_s)
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("sender crashed; the supervisor restarts it on its next pass")

    async def _pass(self) -> datetime | None:
        """Send what is due. Returns when to look again, or None if nothing is open."""
        clock = self.outbox.clock
        if not self.runtime.connected:
            return clock.now() + timedelta(seconds=self.outbox.settings.poll_s)
        async with self.outbox.db.read() as tx:
            batch = await messages.open_outbound(tx, self.session_id, BATCH)
        if not batch:
            return None
        blocked_chats: set[str] = set()
        next_due: datetime | None = None
        for message in batch:
            if self.stopping or not self.runtime.connected:
                return clock.now()
            if message.chat_id in blocked_chats:
                continue
            due = message.next_attempt_at
            if due is not None and due > clock.now():
                blocked_chats.add(message.chat_id)
                next_due = due if next_due is None else min(next_due, due)
                continue
            retry_at = await self._send_one(message)
            if retry_at is not None:
                blocked_chats.add(message.chat_id)
                next_due = retry_at if next_due is None else min(next_due, retry_at)
        if len(batch) == BATCH:
            return clock.now()
        return next_due if next_due is not None else clock.now()

    async def _send_one(self, message: Message) -> datetime | None:
        """Transmit one message; returns when to retry it, or None when it is settled."""
        outbox = self.outbox
        now = outbox.clock.now()
        log_ = self.log.bind(message_id=message.id, wa_message_id=message.wa_message_id)
        if message.expires_at is not None and now >= message.expires_at:
            await self._fail(message, "expired", "the message was not sent before it expired")
            return None
        transport = self.runtime.transport
        if transport is None:
            return now
        try:
            outgoing = await self._outgoing(message)
        except PermanentSendError as exc:
            await self._fail(message, exc.code, exc.message)
            return None
        except TransportError as exc:
            return await self._retry_or_fail(message, exc)
        async with outbox.db.transaction() as tx:
            row = await tx.get(Message, message.seq)
            if row is None or row.status not in (MessageStatus.QUEUED, MessageStatus.SENDING):
                return None  # cancelled or settled elsewhere
            await messages.set_status(
                tx,
                row,
                MessageStatus.SENDING,
                now,
                attempts=row.attempts + 1,
                chat_id=outgoing.to,
            )
            attempts = row.attempts
        message.attempts = attempts
        try:
            result = await transport.send(outgoing)
        except PermanentSendError as exc:
            log_.info("send failed permanently", code=exc.code, error=exc.message)
            await self._fail(message, exc.code, exc.message)
            return None
        except TransportError as exc:
            log_.info("send failed, may retry", code=exc.code, error=exc.message)
            return await self._retry_or_fail(message, exc)
        except Exception as exc:  # a transport bug must not stop the queue
            log_.exception("transport raised an unexpected error")
            return await self._retry_or_fail(message, TransportError(repr(exc)))
        await self._settle(message, result.wa_message_id, result.timestamp)
        log_.info("message sent")
        return None

    async def _outgoing(self, message: Message) -> OutgoingMessage:
        destination = Jid(message.chat_id)
        if is_lid(destination):
            async with self.outbox.db.read() as tx:
                phone = await contacts.phone_for_lid(tx, self.session_id, split_jid(destination)[0])
            if phone:
                destination = phone_jid(phone)
            elif (
                self.runtime.transport is None
                or not self.runtime.transport.capabilities.lid_destinations
            ):
                raise PermanentSendError(
                    "no phone number is known for this @lid and the transport cannot address it",
                    code="lid_without_mapping",
                )
        reaction = None
        if message.reaction:
            reaction = Reaction(
                message_id=str(message.reaction["message_id"]),
                emoji=message.reaction.get("emoji") or None,
            )
        contact = None
        if message.type == MessageType.CONTACT.value and message.contacts:
            contact = ContactCard.model_validate(message.contacts[0])
        return OutgoingMessage(
            message_id=message.id,
            wa_message_id=message.wa_message_id or "",
            to=destination,
            type=MessageType(message.type),
            text=message.text,
            media=await self.outbox.loader.load(message),
            location=Location.model_validate(message.location) if message.location else None,
            contact=contact,
            reaction=reaction,
            reply_to=message.reply_to,
        )

    async def _settle(self, message: Message, wa_message_id: str, at: datetime) -> None:
        outbox = self.outbox
        now = outbox.clock.now()
        async with outbox.db.transaction() as tx:
            row = await tx.get(Message, message.seq)
            if row is None:
                return
            fields: dict[str, object] = {
                "wa_message_id": wa_message_id,
                "sent_at": at,
                "timestamp": at,
                "error_code": None,
                "error_message": None,
                "next_attempt_at": None,
            }
            if row.status in (MessageStatus.QUEUED, MessageStatus.SENDING):
                await messages.set_status(tx, row, MessageStatus.SENT, now, **fields)
            else:  # a receipt raced ahead of the ack: keep the later status
                for name, value in fields.items():
                    setattr(row, name, value)
            await events.append_event(
                tx,
                tenant_id=row.tenant_id,
                session_id=row.session_id,
                type="message.sent",
                data=message_json(row),
                now=now,
            )
        outbox.metrics.messages_out.labels(message.type, MessageStatus.SENT.value).inc()
        outbox.metrics.send_latency.observe(max(0.0, (now - message.created_at).total_seconds()))
        outbox.events_committed()

    async def _retry_or_fail(self, message: Message, exc: TransportError) -> datetime | None:
        decision = self.outbox.settings.retry.decide(message.attempts, self._rng)
        if not decision.retry:
            await self._fail(message, exc.code, exc.message)
            return None
        delay = max(decision.delay_s, exc.retry_after or 0.0)
        now = self.outbox.clock.now()
        retry_at = now + timedelta(seconds=delay)
        async with self.outbox.db.transaction() as tx:
            row = await tx.get(Message, message.seq)
            if row is not None:
                row.next_attempt_at = retry_at
                row.error_code = exc.code
                row.error_message = exc.message
                row.updated_at = now
        self.outbox.metrics.errors.labels(exc.code).inc()
        return retry_at

    async def _fail(self, message: Message, code: str, text: str) -> None:
        now = self.outbox.clock.now()
        async with self.outbox.db.transaction() as tx:
            row = await tx.get(Message, message.seq)
            if row is None or row.status not in (MessageStatus.QUEUED, MessageStatus.SENDING):
                return
            await messages.set_status(
                tx,
                row,
                MessageStatus.FAILED,
                now,
                error_code=code,
                error_message=text,
                next_attempt_at=None,
            )
            await events.append_event(
                tx,
                tenant_id=row.tenant_id,
                session_id=row.session_id,
                type="message.status",
                data={
                    "message_id": row.id,
                    "wa_message_id": row.wa_message_id,
                    "chat_id": row.chat_id,
                    "status": row.status,
                    "error": {"code": code, "message": text},
                    "timestamp": iso(now),
                },
                now=now,
            )
        self.outbox.metrics.messages_out.labels(message.type, MessageStatus.FAILED.value).inc()
        self.outbox.metrics.errors.labels(code).inc()
        self.outbox.events_committed()


__all__ = ["Outbox", "SenderSettings", "SessionSender", "wait_or_timeout"]
