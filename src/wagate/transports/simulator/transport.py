"""The simulator transport: one session's link to its virtual phone on a :class:`SimulatorNetwork`.

Login works like WhatsApp's linked devices: without valid credentials the
transport shows rotating QR codes (or issues a pairing code) until the phone
links it, then reports ``CredentialsUpdated`` and ``Connected``. Everything the
network holds for the session while it is offline (inbound messages, then
receipts that came due) is handed over, in order, right after ``Connected``.

Events that must keep their order (connection, inbound, receipts) are emitted
under one lock. The lock is re-entrant per task, so a sink that reacts to an
event by calling back into the transport (``logout``, a scan in a test) does
not deadlock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

import structlog

from wagate.domain import (
    Conflict,
    Connected,
    ConnectionGone,
    CredentialsUpdated,
    Disconnected,
    InvalidRequest,
    Jid,
    MessageEdit,
    MessageEdited,
    MessageReceived,
    MessageRevoke,
    MessageRevoked,
    NotWaitingForScan,
    OutgoingMessage,
    PairingCodeIssued,
    PermanentSendError,
    PollVoted,
    PresenceState,
    QrUpdated,
    ReceiptReceived,
    SendResult,
    TransientSendError,
    TransportError,
    TransportEvent,
    Unparseable,
    normalize_phone,
    phone_jid,
)
from wagate.domain.groups import GroupAction, GroupInfo
from wagate.domain.profiles import ProfileAction
from wagate.transports.base import Capabilities, NumberCheck, Transport, TransportContext
from wagate.transports.simulator.normalize import (
    learned_identity,
    media_of,
    normalize_simulator_payload,
)
from wagate.transports.simulator.profiles import profile_answer
from wagate.transports.simulator.receipts import receipt_plan
from wagate.transports.simulator.records import PendingReceipt, PresenceRecord, ReadRecord
from wagate.transports.simulator.rules import (
    OUTBOUND_TYPES,
    UNLINKING_CODES,
    check_change_target,
    check_outgoing,
    close_reason,
    on_whatsapp,
)
from wagate.transports.simulator.tasks import SideTasks

if TYPE_CHECKING:
    from wagate.transports.simulator.network import SimulatorNetwork

log = structlog.get_logger()


class State(Enum):
    IDLE = "idle"  # created or closed; connect() starts an attempt
    LOGIN = "login"  # waiting for a QR scan or a pairing code
    CONNECTED = "connected"  # linked and online
    DISCONNECTED = "disconnected"  # the attempt or the connection ended; connect() again


class SimulatorTransport(Transport):
    """A session's connection to the simulated WhatsApp network. Build it with the network."""

    name = "simulator"
    capabilities = Capabilities(
        qr=True,
        pairing_code=True,
        presence=True,
        read_receipts=True,
        choose_message_id=True,
        lid_destinations=True,
        keepalive=True,
        check_numbers=True,
        groups=True,
        profile=True,
        message_types=OUTBOUND_TYPES,
    )

    def __init__(self, context: TransportContext, network: SimulatorNetwork) -> None:
        super().__init__(context)
        self.network = network
        self.phone = network.phone_for(context)
        self.state = State.IDLE
        self._clock = context.clock
        self._tasks = SideTasks(context.clock, f"simulator:{context.session_id}")
        self._lock = asyncio.Lock()
        self._lock_owner: asyncio.Task[Any] | None = None
        self._attempt = 0  # bumped whenever a login attempt ends, so its QR loop stops
        self._qr: tuple[str, datetime] | None = None  # the code the phone may scan now
        self._pairing: tuple[str, str, datetime] | None = None  # code, phone, expiry
        self.conn = ""  # this connection's id on the network, set when it connects

    @property
    def connected(self) -> bool:
        return self.state is State.CONNECTED

    @property
    def current_qr(self) -> tuple[str, datetime] | None:
        """The QR code that may be scanned right now, with its expiry."""
        if self.state is State.LOGIN and self._qr and self._clock.now() < self._qr[1]:
            return self._qr
        return None

    # ------------------------------------------------------------------ emitting

    async def _emit(self, event: TransportEvent) -> None:
        await self.context.sink(event)

    @asynccontextmanager
    async def _ordered(self) -> AsyncIterator[None]:
        """Hold the event-order lock (re-entrant for the task that holds it)."""
        task = asyncio.current_task()
        if task is not None and self._lock_owner is task:
            yield
            return
        async with self._lock:
            self._lock_owner = task
            try:
                yield
            finally:
                self._lock_owner = None

    # ------------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        if self.state in (State.LOGIN, State.CONNECTED):
            return
        self.conn = await self.network.activate(self)
        credentials = self.context.credentials
        verdict = self.phone.check(credentials)
        if verdict == "valid" and credentials is not None:
            self.phone.link_device(credentials["device_id"])
            await self._go_online(new_credentials=None)
        elif verdict == "revoked":  # the phone unlinked this device: WhatsApp answers 401
            self.state = State.DISCONNECTED
            self.context.credentials = None
            await self._emit(CredentialsUpdated(None))
            await self._emit(Disconnected(401, close_reason(401)))
        else:
            if credentials:
                log.warning(
                    "simulator_credentials_ignored",
                    session_id=self.context.session_id,
                    reason="not a device link of this session's virtual phone",
                )
            await self._start_login()

    async def close(self) -> None:
        self._end_attempt(State.IDLE)
        self.network.deactivate(self)
        await self._tasks.cancel_all()

    async def logout(self) -> None:
        linked = self.connected or self.phone.check(self.context.credentials) == "valid"
        if linked:
            self.phone.unlink()
        self.context.credentials = None
        await self._emit(CredentialsUpdated(None))
        await self.close()

    def _end_attempt(self, state: State) -> None:
        """Leave the current state: the QR loop and sleeping receipt timers stop."""
        self.state = state
        self._attempt += 1
        self._qr = None
        self._pairing = None
        self._tasks.cancel_sleeping()

    async def on_replaced(self) -> None:
        """Called by the network when a newer transport of the same session connects."""
        if self.state in (State.LOGIN, State.CONNECTED):
            self._end_attempt(State.DISCONNECTED)
            await self._emit(Disconnected(440, close_reason(440)))

    async def on_drop(self, code: int) -> None:
        """Called by the network: it closes the connection with ``code``."""
        if self.state not in (State.LOGIN, State.CONNECTED):
            raise Conflict("the session is not connected to the simulator", code="not_connected")
        self._end_attempt(State.DISCONNECTED)
        async with self._ordered():
            if code in UNLINKING_CODES:
                self.phone.unlink()
                self.context.credentials = None
                await self._emit(CredentialsUpdated(None))
            await self._emit(Disconnected(code, close_reason(code)))

    # ------------------------------------------------------------------ login

    async def _start_login(self) -> None:
        self.state = State.LOGIN
        self._attempt += 1
        attempt = self._attempt
        settings = self.network.settings
        keys = self.phone.new_qr_keys()
        expires = await self._show_qr(keys, settings.first_qr_ttl_s)
        if self._attempt == attempt:
            self._tasks.spawn(self._qr_loop(attempt, keys, expires), "qr")
            await self._tasks.settle()

    async def _show_qr(self, keys: tuple[str, str, str], ttl: float) -> datetime:
        qr = self.phone.new_qr(keys)
        expires = self._clock.now() + timedelta(seconds=ttl)
        self._qr = (qr, expires)  # scannable as soon as it is shown, even from inside the sink
        await self._emit(QrUpdated(qr=qr, expires_at=expires))
        return expires

    async def _qr_loop(self, attempt: int, keys: tuple[str, str, str], expires: datetime) -> None:
        """Rotate codes until one is scanned; give up (408) after ``qr_max_codes``."""
        settings = self.network.settings
        for shown in range(1, settings.qr_max_codes + 1):
            await self._sleep_until(expires)
            if self._attempt != attempt:
                return
            if shown == settings.qr_max_codes:
                break
            expires = await self._show_qr(keys, settings.qr_ttl_s)
            if self._attempt != attempt:  # scanned (or closed) from inside the sink
                return
        self._end_attempt(State.DISCONNECTED)
        await self._emit(Disconnected(408, "qr_timeout"))

    async def _sleep_until(self, when: datetime) -> None:
        delay = (when - self._clock.now()).total_seconds()
        if delay > 0:
            await self._tasks.sleep(delay)

    async def request_pairing_code(self, phone: str) -> str:
        digits = normalize_phone(phone)
        if self.state is State.CONNECTED:
            raise Conflict("the session is already logged in", code="already_logged_in")
        if self.state is not State.LOGIN:
            raise NotWaitingForScan("the session is not waiting for a login; start it first")
        if not on_whatsapp(digits):
            raise InvalidRequest(f"{digits} has no WhatsApp account", code="invalid_phone")
        code = self.phone.new_pairing_code()
        ttl = timedelta(seconds=self.network.settings.pairing_code_ttl_s)
        self._pairing = (code, digits, self._clock.now() + ttl)
        await self._emit(PairingCodeIssued(code=code, phone=digits))
        return code

    async def on_scan(self) -> None:
        """Called by the network: the phone scanned the current QR code."""
        if self.current_qr is None:
            raise NotWaitingForScan("the session has no valid QR code to scan right now")
        await self._go_online(new_credentials=self.phone.link_device())

    async def on_pairing_code(self, code: str) -> None:
        """Called by the network: the owner typed ``code`` on the phone."""
        pending = self._pairing
        typed = code.strip().upper().replace("-", "")
        if (
            self.state is not State.LOGIN
            or pending is None
            or self._clock.now() >= pending[2]
            or typed != pending[0].replace("-", "")
        ):
            raise Conflict("wrong or expired pairing code", code="invalid_pairing_code")
        self.phone.number = pending[1]  # the account that typed the code is the session's
        await self._go_online(new_credentials=self.phone.link_device())

    async def _go_online(self, new_credentials: dict[str, Any] | None) -> None:
        async with self._ordered():
            self._end_attempt(State.CONNECTED)
            self.phone.stalled = False  # a stall belongs to the connection that had it
            if new_credentials is not None:
                self.context.credentials = new_credentials
                await self._emit(CredentialsUpdated(dict(new_credentials)))
            phone = self.phone
            await self._emit(Connected(phone.number, phone.push_name, phone.own_lid_jid()))
            await _all_committed(await self._drain())
            await self._release_receipts()

    # ------------------------------------------------------------------ inbound

    async def on_wire_payload(self, payload: dict[str, Any]) -> None:
        """Called by the network: a message for this session, queued until it can be delivered.

        Returns once it is committed (or kept in the offline queue). The order lock
        is held only while it is handed over, so the messages of many callers
        commit together.
        """
        async with self._ordered():
            self.phone.offline_queue.append(payload)
            pending = await self._drain()
        await _all_committed(pending)

    async def _drain(self) -> list[Awaitable[None]]:
        """Hand the phone's queue over in order while connected (call with the order lock held);
        returns what to await for their commits.

        A payload leaves the queue only once the session took it, so a failing
        sink delays messages instead of losing or reordering them.
        """
        queue = self.phone.offline_queue
        pending: list[Awaitable[None]] = []
        while queue and self.connected:
            payload = queue[0]
            pending.extend(await self._deliver(payload))
            if queue and queue[0] is payload:
                queue.popleft()
        return pending

    async def on_event(self, event: TransportEvent) -> bool:
        """Called by the network for ephemeral events (presence, calls): lost while offline."""
        async with self._ordered():
            if not self.connected:
                return False
            await self._emit(event)
            return True

    async def _deliver(self, payload: dict[str, Any]) -> list[Awaitable[None]]:
        try:
            normalized = normalize_simulator_payload(payload, self.phone.number)
        except ValueError as exc:
            await self._emit(Unparseable(source="simulator", reason=str(exc), payload=payload))
            return []
        identity = learned_identity(payload)
        if identity is not None:
            await self._emit(identity)
        if isinstance(normalized, MessageEdit):
            await self._emit(MessageEdited(normalized))
        elif isinstance(normalized, MessageRevoke):
            await self._emit(MessageRevoked(normalized))
        elif isinstance(normalized, PollVoted):
            await self._emit(normalized)
        else:
            return [await self.context.hand_over(MessageReceived(normalized, media_of(payload)))]
        return []

    # ------------------------------------------------------------------ outbound

    def _require_connected(self) -> None:
        if not self.connected:
            raise ConnectionGone("the simulated phone is not connected")

    async def _round_trip(self, what: str) -> None:
        """One request to the server and its answer: instant unless the network is slow.

        The connection may drop while the answer is on its way; the caller then
        sees the same error as a request made while disconnected. A connection that
        another process replaced meanwhile is closed by the network with 440, as
        WhatsApp closes a device's older connection; if it tried to act (anything
        but a keepalive), the network records a conflict.
        """
        self._require_connected()
        if not self.network.is_current(self):
            await self._superseded(what)
        if self.phone.latency_s > 0:
            await self._clock.sleep(self.phone.latency_s)
            self._require_connected()

    async def _superseded(self, what: str) -> None:
        if what != "keepalive" and self.network.links is not None:
            self.network.links.conflict(self.phone.session_id, self.conn, what)
        self._end_attempt(State.DISCONNECTED)
        async with self._ordered():
            await self._emit(Disconnected(440, close_reason(440)))
        raise ConnectionGone("a newer connection of this device replaced this one")

    async def send(self, message: OutgoingMessage) -> SendResult:
        await self._round_trip("send")
        if self.phone.send_faults:
            fault = self.phone.send_faults.popleft()
            error: type[TransportError] = TransientSendError
            if not fault.transient:
                error = PermanentSendError
            elif fault.code == ConnectionGone.code:  # a zombie: the connection died unnoticed
                error = ConnectionGone
            raise error(
                f"injected failure: {fault.code}", code=fault.code, retry_after=fault.retry_after_s
            )
        check_outgoing(message, self.phone.knows_lid)
        if message.to in self.phone.blocked:
            raise PermanentSendError(
                f"{message.to} is blocked on this phone; unblock them to send",
                code="contact_blocked",
            )
        check_change_target(message, self.phone.sent)
        if self.phone.record_sent(message):
            sent_at = self._clock.now()
            for delay, status in receipt_plan(message, self.phone.settings):
                receipt = self.phone.hold_receipt(
                    sent_at + timedelta(seconds=delay), message.wa_message_id, message.to, status
                )
                self._schedule(receipt)
            await self._tasks.settle()
        return SendResult(wa_message_id=message.wa_message_id, timestamp=self._clock.now())

    async def keepalive(self) -> None:
        """Answered after one round trip, unless the network stalls this connection
        (then it never answers)."""
        await self._round_trip("keepalive")
        while self.phone.stalled:
            await self._clock.sleep(3600)

    async def manage_group(self, action: GroupAction) -> dict[str, Any]:
        """Carried out by the network's rules (:mod:`.groups`); WhatsApp's notifications
        of the change reach the session right after the answer, as they do on a phone."""
        await self._round_trip("group")
        answer, notifications = self.phone.groups.apply(action, self._clock.now())
        async with self._ordered():
            for notification in notifications:
                await self._emit(notification)
        return answer

    async def manage_profile(self, action: ProfileAction) -> dict[str, Any]:
        await self._round_trip("profile")
        return profile_answer(self.phone, action)

    async def group_info(self, group: Jid) -> dict[str, Any]:
        return await self.manage_group(GroupInfo(group=group))

    async def check_numbers(self, phones: list[str]) -> list[NumberCheck]:
        """The network's answer for each number: a declared account (``accounts``), else
        the rule (on WhatsApp unless it starts with 0 or 999) at the number's own JID."""
        await self._round_trip("check_numbers")
        answers = []
        for phone in phones:
            digits = normalize_phone(phone)
            known = self.phone.accounts.get(digits)
            if known is not None:
                answers.append(NumberCheck(digits, known.on_whatsapp, known.jid))
            elif on_whatsapp(digits):
                answers.append(NumberCheck(digits, True, phone_jid(digits)))
            else:
                answers.append(NumberCheck(digits, False, None))
        return answers

    async def subscribe_presence(self, chat_id: Jid) -> None:
        await self._round_trip("subscribe_presence")
        self.phone.subscriptions.append((chat_id, self._clock.now()))

    async def send_presence(self, chat_id: Jid, state: PresenceState) -> None:
        await self._round_trip("presence")
        self.phone.presence_log.append(PresenceRecord(chat_id, state, self._clock.now()))

    async def mark_read(self, chat_id: Jid, wa_message_ids: list[str], sender: str | None) -> None:
        await self._round_trip("read")
        record = ReadRecord(chat_id, tuple(wa_message_ids), sender, self._clock.now())
        self.phone.read_log.append(record)

    # ------------------------------------------------------------------ receipts

    def _schedule(self, receipt: PendingReceipt) -> None:
        self._tasks.spawn(self._receipt_when_due(receipt), f"receipt:{receipt.seq}")

    async def _receipt_when_due(self, receipt: PendingReceipt) -> None:
        await self._sleep_until(receipt.due_at)
        await self.release_receipt(receipt)

    async def release_receipt(self, receipt: PendingReceipt) -> None:
        """Hand a held receipt to the session now, if it is still connected and held;
        returns once it is committed (the order lock is held only to hand it over)."""
        pending: list[Awaitable[None]] = []
        async with self._ordered():
            if self.connected and receipt.seq in self.phone.receipts:
                pending.append(await self._emit_receipt(receipt))
        await _all_committed(pending)

    async def _release_receipts(self) -> None:
        """On connect: hand over receipts that came due while offline, time the rest."""
        if not self.connected:  # closed or dropped from inside the sink meanwhile
            return
        now = self._clock.now()
        for receipt in sorted(self.phone.receipts.values(), key=lambda r: (r.due_at, r.seq)):
            if receipt.due_at > now:
                self._schedule(receipt)
            elif self.connected and receipt.seq in self.phone.receipts:
                await (await self._emit_receipt(receipt))
        await self._tasks.settle()

    async def _emit_receipt(self, receipt: PendingReceipt) -> Awaitable[None]:
        """Hand a receipt to the session; the phone forgets it only once the session took it.
        Returns what to await for its commit."""
        committed = await self.context.hand_over(
            ReceiptReceived(
                wa_message_ids=(receipt.wa_message_id,),
                status=receipt.status,
                chat_id=receipt.chat_id,
                timestamp=receipt.due_at,
            )
        )
        self.phone.receipts.pop(receipt.seq, None)
        return committed


async def _all_committed(pending: list[Awaitable[None]]) -> None:
    """Wait for every commit, in order; the first failure is raised after all were awaited."""
    failure: BaseException | None = None
    for each in pending:
        try:
            await each
        except Exception as exc:
            failure = failure or exc
    if failure is not None:
        raise failure
