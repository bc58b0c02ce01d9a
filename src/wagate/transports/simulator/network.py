"""The simulated WhatsApp network: a virtual phone per session, and the controls to drive it.

One :class:`SimulatorNetwork` lives in the process (the composition root
builds it with the app's clock and registers :meth:`SimulatorNetwork.create_transport`
as the ``simulator`` factory). The control routes call the methods below,
keyed by wagate session id. A session has a phone here once its transport
was created in this process; before that the controls answer ``NotFound``.

Built with a ``ledger_dir``, the network keeps what reached it (the sent
messages with their transmission counts) in one file per session there, so it
outlives a crash of the gateway as WhatsApp's servers would; a phone created
in a new process picks its session's file up (see
:mod:`wagate.transports.simulator.ledger` for the format and what is not kept).
Without one (unit tests), it remembers nothing beyond the process.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from wagate.domain import (
    CallReceived,
    Clock,
    Conflict,
    DecryptFailed,
    InvalidDestination,
    MessageStatus,
    NotFound,
    NotWaitingForScan,
    PresenceChanged,
    UnknownEventType,
    normalize_phone,
    phone_jid,
)
from wagate.transports.base import TransportContext
from wagate.transports.simulator.ledger import SentLedger, ledger_path
from wagate.transports.simulator.links import LinkBoard
from wagate.transports.simulator.models import (
    SimulatorAccount,
    SimulatorCall,
    SimulatorGroupEvent,
    SimulatorInbound,
    SimulatorPresence,
)
from wagate.transports.simulator.phone import SendFault, VirtualPhone
from wagate.transports.simulator.records import (
    Account,
    PhoneInfo,
    PresenceRecord,
    ReadRecord,
    SentRecord,
)
from wagate.transports.simulator.settings import SimulatorSettings, parse_simulator_config
from wagate.transports.simulator.transport import SimulatorTransport
from wagate.transports.simulator.wire import build_wire_payload

log = structlog.get_logger()

_CONNECTIONS = itertools.count(1)  # connection ids: unique in the process, whatever network


class SimulatorNetwork:
    """An in-process fake WhatsApp network, deterministic under ``seed`` and ``clock``."""

    def __init__(
        self,
        clock: Clock,
        seed: int = 0,
        settings: SimulatorSettings | None = None,
        *,
        ledger_dir: Path | None = None,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.settings = settings or SimulatorSettings()
        self.ledger_dir = ledger_dir  # None: what reached the network lives in memory only
        self.links = LinkBoard(ledger_dir) if ledger_dir is not None else None
        self._phones: dict[str, VirtualPhone] = {}
        self._closed = False

    # ------------------------------------------------------------------ for transports

    def create_transport(self, context: TransportContext) -> SimulatorTransport:
        """The ``simulator`` transport factory.

        Raises ``InvalidRequest(code="invalid_config")`` when the session's config is invalid.
        """
        return SimulatorTransport(context, self)

    def phone_for(self, context: TransportContext) -> VirtualPhone:
        """The session's phone, created on first use.

        Saved credentials name the account the session was linked to (a pairing
        code may have linked another number than the configured one), so a
        restarted process rebuilds the same phone; with a ledger directory it
        also remembers what the session sent before the restart.
        """
        config = parse_simulator_config(context.config)
        phone = self._phones.get(context.session_id)
        if phone is None:
            phone = VirtualPhone(
                context.session_id,
                self.seed,
                self.settings,
                config,
                linked_number=_linked_number(context.credentials),
            )
            if self.ledger_dir is not None:
                ledger = SentLedger(
                    ledger_path(self.ledger_dir, context.session_id), keep_open=not self._closed
                )
                phone.sent = ledger.load()
                phone.ledger = ledger
                phone.start_epoch(self.seed, _next_epoch(self.ledger_dir, context.session_id))
            self._phones[context.session_id] = phone
        else:
            phone.settings = config.apply(self.settings)
        return phone

    async def activate(self, transport: SimulatorTransport) -> str:
        """Make ``transport`` the one its phone talks to; an older one is told it was
        replaced. Returns the new connection's id (unique across processes)."""
        phone = transport.phone
        previous = phone.transport
        phone.transport = transport
        conn = f"{os.getpid()}.{next(_CONNECTIONS)}"
        if self.links is not None:
            self.links.open(phone.session_id, conn, transport.context.lease_token)
        if previous is not None and previous is not transport:
            await previous.on_replaced()
        return conn

    def is_current(self, transport: SimulatorTransport) -> bool:
        """Is ``transport`` the session's newest connection, in any process sharing the
        ledger directory (see :mod:`wagate.transports.simulator.links`)."""
        if self.links is None:
            return True
        current = self.links.current(transport.phone.session_id)
        return current is None or current == transport.conn

    def deactivate(self, transport: SimulatorTransport) -> None:
        if transport.phone.transport is transport:
            transport.phone.transport = None

    def _phone(self, session_id: str) -> VirtualPhone:
        try:
            return self._phones[session_id]
        except KeyError:
            raise NotFound(f"session {session_id} has no simulated phone: start it first") from None

    def _transport(self, session_id: str) -> SimulatorTransport:
        transport = self._phone(session_id).transport
        if transport is None:
            raise Conflict("the session is not running", code="not_connected")
        return transport

    # ------------------------------------------------------------------ controls

    async def scan(self, session_id: str) -> None:
        """The virtual phone scans the session's current QR code.

        Raises ``NotWaitingForScan`` (409) when no unexpired QR code is showing.
        """
        transport = self._phone(session_id).transport
        if transport is None:
            raise NotWaitingForScan("the session is not running, so it shows no QR code")
        await transport.on_scan()

    async def enter_pairing_code(self, session_id: str, code: str) -> None:
        """The owner types a pairing code on the phone; 409 ``invalid_pairing_code`` if wrong."""
        transport = self._phone(session_id).transport
        if transport is None:
            raise Conflict("the session is not running", code="invalid_pairing_code")
        await transport.on_pairing_code(code)

    async def inbound(self, session_id: str, payload: SimulatorInbound) -> str:
        """A contact (or, with ``from_me``, the owner) sends a message; its WhatsApp id.

        Delivered now when the session is connected, otherwise queued and
        delivered in order when it next connects.
        """
        phone = self._phone(session_id)
        wa_message_id = payload.id or phone.new_message_id()
        wire = build_wire_payload(payload, phone, wa_message_id, self.clock.now())
        if payload.lid is not None:
            phone.learn(None if payload.hide_phone else payload.partner, payload.lid)
        transport = phone.transport
        if transport is None:
            phone.offline_queue.append(wire)
        else:
            await transport.on_wire_payload(wire)
        return wa_message_id

    async def presence(self, session_id: str, payload: SimulatorPresence) -> bool:
        """A contact types, records or goes quiet; lost (False) while the session is offline."""
        phone = self._phone(session_id)
        who = phone_jid(payload.from_)
        event = PresenceChanged(
            chat_id=payload.group or who, participant=who, state=payload.presence
        )
        return await self._ephemeral(phone, event)

    async def group_event(self, session_id: str, payload: SimulatorGroupEvent) -> bool:
        """Someone else's change in a group reaches the phone; lost (False) while the
        session is offline. Raises ``GroupNotFound`` for a group the phone is not in."""
        phone = self._phone(session_id)
        event = phone.groups.others_changed(
            payload.group,
            payload.change,
            [phone_jid(p) for p in payload.participants],
            phone_jid(payload.by) if payload.by else None,
            self.clock.now(),
        )
        transport = phone.transport
        return transport is not None and await transport.on_event(event)

    async def call(self, session_id: str, payload: SimulatorCall) -> str:
        """A contact calls the phone; the call id. Missed silently while offline."""
        phone = self._phone(session_id)
        call_id = phone.new_call_id()
        event = CallReceived(
            call_id=call_id,
            caller=phone_jid(payload.from_),
            video=payload.video,
            timestamp=self.clock.now(),
        )
        await self._ephemeral(phone, event)
        return call_id

    async def _ephemeral(self, phone: VirtualPhone, event: PresenceChanged | CallReceived) -> bool:
        delivered = phone.transport is not None and await phone.transport.on_event(event)
        if not delivered:
            log.info(
                "simulator_event_lost_offline",
                session_id=phone.session_id,
                kind=type(event).__name__,
            )
        return delivered

    async def disconnect(self, session_id: str, code: int) -> None:
        """The network drops the session's connection with a WhatsApp close code.

        401 (logged out) and 403 (banned) also unlink the device, so the
        transport reports ``CredentialsUpdated(None)`` before ``Disconnected``.
        Raises ``Conflict(code="not_connected")`` when there is nothing to drop.
        """
        if not 100 <= code <= 999:
            raise ValueError(f"close code {code} is not between 100 and 999")
        await self._transport(session_id).on_drop(code)

    async def outage(self, code: int, session_ids: Iterable[str] | None = None) -> list[str]:
        """Fault injection: the network drops every connected session at the same moment
        (as when WhatsApp restarts a front-end), or those of ``session_ids``.

        Returns the ids of the sessions dropped. The drops run concurrently, so the
        sessions' reconnects stampede as they would in production.
        """
        if not 100 <= code <= 999:
            raise ValueError(f"close code {code} is not between 100 and 999")
        wanted = set(session_ids) if session_ids is not None else None
        victims = [
            (session_id, phone.transport)
            for session_id, phone in self._phones.items()
            if phone.transport is not None
            and phone.transport.connected
            and (wanted is None or session_id in wanted)
        ]
        await asyncio.gather(*(transport.on_drop(code) for _, transport in victims))
        return [session_id for session_id, _ in victims]

    # ------------------------------------------------------------------ inspection

    def sent(self, session_id: str) -> list[SentRecord]:
        """Every distinct message the session sent, in order of first arrival."""
        return list(self._phone(session_id).sent.values())

    def subscriptions(self, session_id: str) -> list[tuple[str, datetime]]:
        """Presence subscriptions the gateway asked for: (chat, when)."""
        return list(self._phone(session_id).subscriptions)

    def presence_log(self, session_id: str) -> list[PresenceRecord]:
        return list(self._phone(session_id).presence_log)

    def read_log(self, session_id: str) -> list[ReadRecord]:
        return list(self._phone(session_id).read_log)

    def phone(self, session_id: str) -> PhoneInfo:
        phone = self._phone(session_id)
        return PhoneInfo(
            session_id=session_id,
            number=phone.number,
            push_name=phone.push_name,
            lid=phone.own_lid_jid(),
            contacts=tuple(phone.contacts),
            linked=phone.link.device_id is not None,
            connected=phone.connected,
        )

    def current_qr(self, session_id: str) -> tuple[str, datetime] | None:
        """The QR code the session shows right now and its expiry, if any."""
        transport = self._phone(session_id).transport
        return transport.current_qr if transport is not None else None

    def has_phone(self, session_id: str) -> bool:
        return session_id in self._phones

    def reset(self, session_id: str | None = None) -> None:
        """Forget what was recorded: sent messages, presence and read logs, queues, receipts.

        Phones, device links and live connections stay, so a running app can
        clear the slate between tests without restarting sessions. With a ledger
        directory, the ledger files of these phones are cleared too (those of
        sessions without a phone in this process stay).
        """
        phones = [self._phone(session_id)] if session_id else self._phones.values()
        for phone in phones:
            phone.clear_logs()

    async def decrypt_storm(self, session_id: str, count: int, from_: str) -> int:
        """Fault injection: ``count`` messages arrive that cannot be decrypted (Bad MAC).

        Returns how many reached the session (none while it is offline).
        """
        phone = self._phone(session_id)
        reached = 0
        for _ in range(count):
            transport = phone.transport
            if transport is None or not await transport.on_event(
                DecryptFailed(chat_id=phone_jid(from_), error="bad_mac")
            ):
                break
            reached += 1
        return reached

    async def receipt(self, session_id: str, wa_message_id: str, status: MessageStatus) -> bool:
        """The recipient of a message the session sent reports it ``status`` now (besides
        the receipts the network sends by itself after its delays).

        Returns whether the session got it at once; while it is offline the
        receipt waits for it, like every receipt. Raises ``NotFound`` for a
        message that never reached the network.
        """
        phone = self._phone(session_id)
        record = phone.sent.get(wa_message_id)
        if record is None:
            raise NotFound(f"no message {wa_message_id!r} reached the simulated network")
        receipt = phone.hold_receipt(self.clock.now(), wa_message_id, record.to, status)
        transport = phone.transport
        if transport is None or not transport.connected:
            return False
        await transport.release_receipt(receipt)
        return True

    async def unknown_event(self, session_id: str, kind: str) -> bool:
        """Fault injection: the network sends an event type no engine knows yet (as
        WhatsApp does when it ships a feature). False when the session is offline."""
        return await self._transport(session_id).on_event(
            UnknownEventType(source="simulator", kind=kind)
        )

    def declare_account(self, session_id: str, account: SimulatorAccount) -> Account:
        """How the network knows a number from now on, for this session's number checks:
        on WhatsApp at ``jid`` (default its own), or not on WhatsApp at all."""
        jid = (account.jid or phone_jid(account.phone)) if account.on_whatsapp else None
        known = Account(phone=account.phone, on_whatsapp=account.on_whatsapp, jid=jid)
        self._phone(session_id).accounts[account.phone] = known
        return known

    def stall(self, session_id: str) -> None:
        """Fault injection: the session's connection stays up but stops answering."""
        self._phone(session_id).stalled = True

    def slow_down(self, session_id: str, latency_s: float) -> None:
        """Fault injection: every round trip of the session's connection (a send, a
        keepalive, presence, read receipts) takes ``latency_s`` more; 0 restores it.

        Unlike a stall it belongs to the network path, not to one connection, so it
        lasts across reconnects until it is cleared.
        """
        self._phone(session_id).latency_s = max(0.0, latency_s)

    def fail_next_sends(
        self,
        session_id: str,
        count: int,
        *,
        code: str = "network_timeout",
        transient: bool = True,
        retry_after_s: float | None = None,
    ) -> None:
        """Fault injection: the session's next ``count`` sends fail with ``code``."""
        phone = self._phone(session_id)
        phone.send_faults.extend(SendFault(code, transient, retry_after_s) for _ in range(count))

    def forget(self, session_id: str) -> None:
        """Drop the session's phone and its ledger file: for a deleted session.

        Call it once the session's transport is closed. Unknown sessions are
        fine (the file may exist from an earlier process, or not at all).
        """
        phone = self._phones.pop(session_id, None)
        if phone is not None and phone.ledger is not None:
            phone.ledger.close()
            phone.ledger = None  # a straggling transport of it can no longer write the file
        if self.ledger_dir is not None:
            path = ledger_path(self.ledger_dir, session_id)
            path.unlink(missing_ok=True)
            path.with_suffix(".epoch").unlink(missing_ok=True)
        if self.links is not None:
            self.links.forget(session_id)

    def close(self) -> None:
        """Close the open ledger files; call it on shutdown. Idempotent.

        Whatever is sent afterwards (a late transport) is still recorded, each
        transmission opening and closing its file.
        """
        self._closed = True
        for phone in self._phones.values():
            if phone.ledger is not None:
                phone.ledger.close()


def _linked_number(credentials: dict[str, Any] | None) -> str | None:
    if not credentials or credentials.get("simulator") is not True:
        return None
    number = credentials.get("phone")
    if not isinstance(number, str):
        return None
    try:
        return normalize_phone(number)
    except InvalidDestination:
        return None


def _next_epoch(ledger_dir: Path, session_id: str) -> int:
    """Count process starts per session in ``<session>.epoch`` beside its ledger."""
    path = ledger_path(ledger_dir, session_id).with_suffix(".epoch")
    try:
        epoch = int(path.read_text().strip() or "0") + 1
    except (FileNotFoundError, ValueError):
        epoch = 1
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(f"{epoch}\n")
    return epoch
