"""A chat lane: the messages of one chat, sent one after another, in acceptance order.

Each chat with work gets its own lane (an asyncio task), so a message that
waits (pacing, a guardrail, a retry) holds back only the later messages of
its own chat. A lane gives its messages back to the dispatcher when the
session goes offline or the sender stops.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from wagate.domain import (
    CHANGE_TYPES,
    Buttons,
    ConnectionGone,
    ContactCard,
    Jid,
    ListMenu,
    Location,
    MessageNotChangeable,
    MessageStatus,
    MessageType,
    NotConnected,
    NotFound,
    OutgoingMessage,
    PermanentSendError,
    Poll,
    PresenceState,
    Reaction,
    TransientSendError,
    TransportError,
    check_change_of,
    is_lid,
    phone_jid,
    split_jid,
)
from wagate.domain.ids import PHONE_SERVER
from wagate.outbox import pacing
from wagate.outbox.guardrails import Hold, HoldReason
from wagate.outbox.writer import OPEN, Op, failure
from wagate.store.models import Message
from wagate.store.repositories import contacts, messages
from wagate.store.serialize import message_json

if TYPE_CHECKING:
    from wagate.outbox.sender import SessionSender


_CHANGES = {kind.value for kind in CHANGE_TYPES}


def _target_of(change: Message) -> str:
    """The id of the message an edit or revoke changes (kept in its request)."""
    return str((change.request or {})["target"])


def _poll_of(message: Message) -> Poll | None:
    if message.poll is None:
        return None
    fields = ("name", "options", "selectable_count")
    return Poll.model_validate({name: message.poll[name] for name in fields})


class Outcome(Enum):
    DONE = "done"  # sent or failed: settled
    RELEASE = "release"  # not now (offline, stopping): give it back to the dispatcher


class ChatLane:
    def __init__(self, sender: SessionSender, chat_id: str) -> None:
        self.sender = sender
        self.chat_id = chat_id
        self.queue: deque[Message] = deque()
        self.task: asyncio.Task[None] | None = None
        self.log = sender.log.bind(chat_id=chat_id)
        self.targets: dict[int, Message] = {}  # seq of an edit or revoke -> the message it changes

    def add(self, message: Message) -> None:
        self.queue.append(message)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self.run(), name=f"lane:{self.sender.session_id}:{self.chat_id}"
        )

    async def run(self) -> None:
        try:
            guard, now = self.sender.guard, self.sender.clock.now()
            if guard.needs_loading(self.chat_id, now):  # not loaded with its dispatcher's fill
                async with self.sender.outbox.db.read() as tx:
                    await guard.load_chats(tx, [self.chat_id], now)
            while self.queue:
                outcome = await self.deliver(self.queue[0])
                if outcome is Outcome.RELEASE:
                    break
                self.sender.settled(self.queue.popleft().seq)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("chat lane failed; its messages go back to the queue")
        finally:
            for message in self.queue:
                self.sender.release(message.seq)
            self.queue.clear()
            self.sender.lane_finished(self)

    # ------------------------------------------------------------------ one message

    async def deliver(self, message: Message) -> Outcome:
        sender = self.sender
        clock = sender.clock
        while True:
            now = clock.now()
            if sender.stopping or not sender.runtime.connected:
                return Outcome.RELEASE
            if not sender.runtime.holds_lease():  # woke from a pause: wait for the renewal
                if not await sender.runtime.lease_confirmed():
                    return Outcome.RELEASE  # another worker runs the session now
                continue
            if message.expires_at is not None and now >= message.expires_at:
                await self.fail(message, "expired", "the message was not sent before it expired")
                return Outcome.DONE
            if self._outcome_unknown(message):
                await self.fail(
                    message,
                    "send_outcome_unknown",
                    (
                        "the process stopped while this message was being sent, and this transport "
                        "cannot resend it under the same id; it may or may not have arrived"
                    ),
                )
                return Outcome.DONE
            # An edit or revoke corrects a message the guardrails already let through.
            change = message.type in _CHANGES
            proactive = not change and sender.guard.is_proactive(self.chat_id, now)
            hold = self._retry_hold(message, now) or (
                None if change else sender.guard.check(self.chat_id, now, proactive=proactive)
            )
            if hold is not None:
                await self.wait(message, hold)
                continue
            try:
                outgoing = await self.outgoing(message)
                if message.humanize is not False:
                    await self.pace(message, outgoing)
            except PermanentSendError as exc:
                await self.fail(message, exc.code, exc.message)
                return Outcome.DONE
            except (NotConnected, ConnectionGone):
                return Outcome.RELEASE
            except TransportError as exc:
                if not await self.schedule_retry(message, exc):
                    return Outcome.DONE
                continue
            outcome = await self.transmit(message, outgoing, proactive)
            if outcome is not None:
                return outcome

    def _outcome_unknown(self, message: Message) -> bool:
        """A message found mid-send after a restart, on a transport that picks its own ids."""
        capabilities = self.sender.runtime.capabilities
        return (
            capabilities is not None
            and not capabilities.choose_message_id
            and message.status == MessageStatus.SENDING.value
            and message.attempts > 0
            and message.seq not in self.sender.sent_here
        )

    def _retry_hold(self, message: Message, now: datetime) -> Hold | None:
        if (
            message.next_attempt_at is not None
            and message.next_attempt_at > now
            and (message.hold_reason in (None, HoldReason.RETRY.value))
        ):
            return Hold(HoldReason.RETRY, message.next_attempt_at)
        return None

    async def transmit(
        self, message: Message, outgoing: OutgoingMessage, proactive: bool
    ) -> Outcome | None:
        """Send once. Returns the outcome, or None to go round again (a retry is due)."""
        sender = self.sender
        if not (sender.runtime.connected and sender.runtime.holds_lease()):
            return Outcome.RELEASE  # pacing took a while: the session went, or its lease lapsed
        now = sender.clock.now()
        message.attempts += 1
        sender.sent_here.add(message.seq)
        sender.write(
            Op(
                message.seq,
                {
                    "status": MessageStatus.SENDING.value,
                    "chat_id": outgoing.to,
                    "updated_at": now,
                    "hold_reason": None,
                },
                add_attempt=True,
            )
        )
        try:
            result = await sender.runtime.send(outgoing)
        except (NotConnected, ConnectionGone):  # the runtime reported a dead connection
            return Outcome.RELEASE
        except PermanentSendError as exc:
            self.log.info("send failed permanently", message_id=message.id, code=exc.code)
            await self.fail(message, exc.code, exc.message)
            return Outcome.DONE
        except TransportError as exc:
            self.log.info("send failed, may retry", message_id=message.id, code=exc.code)
            return None if await self.schedule_retry(message, exc) else Outcome.DONE
        except Exception as exc:  # a transport bug must not stop the queue
            self.log.exception("transport raised an unexpected error", message_id=message.id)
            retry = await self.schedule_retry(message, TransportError(repr(exc)))
            return None if retry else Outcome.DONE
        if message.type not in _CHANGES:
            sender.guard.record_send(self.chat_id, result.timestamp, proactive=proactive)
        await self.settle(message, result.wa_message_id, result.timestamp, proactive)
        return Outcome.DONE

    # ------------------------------------------------------------------ waiting

    async def wait(self, message: Message, hold: Hold) -> None:
        """Record why the message waits (visible in the API), then sleep until it may go."""
        sender = self.sender
        if (message.hold_reason, message.next_attempt_at) != (hold.reason.value, hold.until):
            message.hold_reason, message.next_attempt_at = hold.reason.value, hold.until
            sender.write(
                Op(
                    message.seq,
                    {
                        "hold_reason": hold.reason.value,
                        "next_attempt_at": hold.until,
                        "updated_at": sender.clock.now(),
                    },
                )
            )
            sender.outbox.metrics.holds.labels(hold.reason.value).inc()
        until = hold.until
        if message.expires_at is not None:
            until = min(until, message.expires_at)
        await sender.sleep_until(until)

    async def schedule_retry(self, message: Message, exc: TransportError) -> bool:
        """Plan the next attempt; returns False when the message failed for good."""
        sender = self.sender
        decision = sender.outbox.settings.retry.decide(message.attempts, sender.rng)
        if not decision.retry:
            await self.fail(message, exc.code, exc.message)
            return False
        now = sender.clock.now()
        message.next_attempt_at = now + timedelta(
            seconds=max(decision.delay_s, exc.retry_after or 0.0)
        )
        message.hold_reason = HoldReason.RETRY.value
        sender.write(
            Op(
                message.seq,
                {
                    "next_attempt_at": message.next_attempt_at,
                    "hold_reason": HoldReason.RETRY.value,
                    "error_code": exc.code,
                    "error_message": exc.message,
                    "updated_at": now,
                },
            )
        )
        sender.outbox.metrics.errors.labels(exc.code).inc()
        return True

    # ------------------------------------------------------------------ building and pacing

    async def outgoing(self, message: Message) -> OutgoingMessage:
        if message.type in _CHANGES:
            return await self.change(message)
        sender = self.sender
        destination = Jid(message.chat_id)
        if is_lid(destination):
            async with sender.outbox.db.read() as tx:
                phone = await contacts.phone_for_lid(
                    tx, sender.session_id, split_jid(destination)[0]
                )
            capabilities = sender.runtime.capabilities
            if phone:
                destination = phone_jid(phone)
            elif capabilities is None or not capabilities.lid_destinations:
                raise PermanentSendError(
                    "no phone number is known for this @lid and the transport cannot address it",
                    code="lid_without_mapping",
                )
        elif split_jid(destination)[1] == PHONE_SERVER:
            destination = await self.resolve(destination)
        reaction = None
        if message.reaction:
            reaction = Reaction(
                message_id=str(message.reaction["message_id"]),
                emoji=message.reaction.get("emoji") or None,
            )
        request = message.request or {}
        contact = None
        if message.type == MessageType.CONTACT.value and message.contacts:
            contact = ContactCard.model_validate(message.contacts[0])
        return OutgoingMessage(
            message_id=message.id,
            wa_message_id=message.wa_message_id or "",
            to=destination,
            type=MessageType(message.type),
            text=message.text,
            media=await sender.outbox.loader.load(message),
            location=Location.model_validate(message.location) if message.location else None,
            contact=contact,
            reaction=reaction,
            poll=_poll_of(message),
            buttons=Buttons.model_validate(request["buttons"]) if "buttons" in request else None,
            list_menu=ListMenu.model_validate(request["list"]) if "list" in request else None,
            reply_to=message.reply_to,
        )

    async def change(self, message: Message) -> OutgoingMessage:
        """An edit or revoke, addressed where its target went. Checked again now: WhatsApp's
        window may have closed while it waited (the session was offline)."""
        sender = self.sender
        try:
            async with sender.outbox.db.read() as tx:
                target = await messages.get_message(tx, _target_of(message), message.tenant_id)
        except NotFound:
            raise PermanentSendError(
                "the message to change is gone", code="unknown_message"
            ) from None
        kind = MessageType(message.type)
        try:
            check_change_of(kind, target, sender.clock.now())
        except MessageNotChangeable as exc:
            raise PermanentSendError(exc.message, code=exc.code) from None
        if target.status in OPEN:
            raise TransientSendError(
                "the message to change has not been sent yet", code="target_not_sent"
            )
        self.targets[message.seq] = target
        return OutgoingMessage(
            message_id=message.id,
            wa_message_id=message.wa_message_id or "",
            to=Jid(target.chat_id),
            type=kind,
            text=message.text,
            target=target.wa_message_id,
        )

    async def resolve(self, destination: Jid) -> Jid:
        """The JID the number's account really lives at (an older Brazilian account at its
        8-digit number), by the transport's number check; ``not_on_whatsapp`` when it has
        none. Transports that cannot check send as addressed."""
        runtime = self.sender.runtime
        capabilities = runtime.capabilities
        if capabilities is None or not capabilities.check_numbers:
            return destination
        digits = split_jid(destination)[0]
        jid = await self.sender.outbox.numbers.jid_for(runtime, digits)
        if jid is None:
            raise PermanentSendError(f"+{digits} is not on WhatsApp", code="not_on_whatsapp")
        return Jid(jid)

    async def pace(self, message: Message, outgoing: OutgoingMessage) -> None:
        """Read the chat, think, show typing or recording, pause; as a person would."""
        sender = self.sender
        size = (message.media or {}).get("size")
        profile = (message.request or {}).get("pacing") or sender.policy.pacing
        the_plan = pacing.plan(
            profile,
            outgoing.type,
            outgoing.text,
            int(size) if size else None,
            sender.rng,
        )
        if the_plan is None or outgoing.type is MessageType.REACTION:
            return
        runtime = sender.runtime
        capabilities = runtime.capabilities
        if capabilities is None:
            raise NotConnected("the session went offline")
        if capabilities.read_receipts:
            await self.mark_chat_read(outgoing.to)
        if capabilities.presence:
            await runtime.subscribe_presence(outgoing.to)
        await sender.clock.sleep(the_plan.think_s)
        for chunk in the_plan.typing_chunks():
            if capabilities.presence:
                await runtime.send_presence(outgoing.to, the_plan.presence)
            await sender.clock.sleep(chunk)
        if capabilities.presence:
            await runtime.send_presence(outgoing.to, PresenceState.PAUSED)
        await sender.clock.sleep(the_plan.pause_s)

    async def mark_chat_read(self, chat: Jid) -> None:
        sender = self.sender
        async with sender.outbox.db.read() as tx:
            unread = await messages.unread_inbound(tx, sender.session_id, self.chat_id)
        if not unread:
            return
        await sender.runtime.mark_read(
            chat, [m.wa_message_id for m in unread if m.wa_message_id], unread[0].sender
        )
        now = sender.clock.now()
        for row in unread:
            sender.write(Op(row.seq, {"read_at": now}, only_if_open=False))

    # ------------------------------------------------------------------ settling

    async def settle(
        self, message: Message, wa_message_id: str, at: datetime, proactive: bool
    ) -> None:
        sender = self.sender
        now = sender.clock.now()
        fields: dict[str, Any] = {
            "status": MessageStatus.SENT.value,
            "wa_message_id": wa_message_id,
            "sent_at": at,
            "timestamp": at,
            "error_code": None,
            "error_message": None,
            "next_attempt_at": None,
            "hold_reason": None,
            "proactive": proactive,
            "updated_at": now,
        }
        for name, value in fields.items():
            setattr(message, name, value)
        target = self.targets.pop(message.seq, None)
        await sender.write(
            Op(
                message.seq,
                fields,
                event=(
                    message.tenant_id,
                    message.session_id,
                    "message.sent",
                    message_json(message),
                ),
                also=[] if target is None else [self.changed(message, target, at, now)],
            )
        )
        metrics = sender.outbox.metrics
        metrics.messages_out.labels(message.type, MessageStatus.SENT.value).inc()
        metrics.send_latency.observe(max(0.0, (now - message.created_at).total_seconds()))
        self.log.debug("message sent", message_id=message.id, wa_message_id=wa_message_id)

    def changed(self, change: Message, target: Message, at: datetime, now: datetime) -> Op:
        """The target of a sent edit or revoke, changed in the same commit, announced as
        ``message.updated`` as an edit or revoke made on the phone is."""
        values: dict[str, Any] = {"updated_at": now}
        if change.type == MessageType.EDIT.value:
            values |= {"text": change.text, "edited_at": at}
        else:
            values["revoked_at"] = at
        for name, value in values.items():
            setattr(target, name, value)
        kind = "edited" if change.type == MessageType.EDIT.value else "revoked"
        return Op(
            target.seq,
            values,
            only_if_open=False,
            event=(
                target.tenant_id,
                target.session_id,
                "message.updated",
                {"change": kind, **message_json(target)},
            ),
        )

    async def fail(self, message: Message, code: str, text: str) -> None:
        sender = self.sender
        now = sender.clock.now()
        await sender.write(failure(message, code, text, now))
        sender.outbox.metrics.messages_out.labels(message.type, MessageStatus.FAILED.value).inc()
        sender.outbox.metrics.errors.labels(code).inc()
