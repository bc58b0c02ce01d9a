"""One session running in this process: its transport, status changes and reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from wagate.domain import (
    Clock,
    Conflict,
    Connected,
    ConnectionGone,
    CredentialsUpdated,
    DecryptFailed,
    DesiredState,
    Disconnected,
    Jid,
    NotConnected,
    NotRunning,
    OutgoingMessage,
    PairingCodeIssued,
    PresenceState,
    QrUpdated,
    RetryStrategy,
    SendResult,
    SessionStatus,
    TransportEvent,
    UnknownEventType,
    Unparseable,
    normalize_phone,
)
from wagate.domain.groups import GroupAction
from wagate.domain.policy import DeliveryPolicy
from wagate.domain.profiles import ProfileAction
from wagate.observability import Metrics
from wagate.sessions.breaker import DecryptBreaker
from wagate.sessions.hooks import SessionHooks
from wagate.sessions.lease import Lease, StaleLease
from wagate.sessions.monitor import ProtocolMonitor
from wagate.sessions.policy import Action, is_known_close_code, rule_for
from wagate.sessions.recorder import EventRecorder, SessionRef
from wagate.sessions.status import SessionWrites, StatusChange
from wagate.sessions.watchdog import Watchdog
from wagate.store import Database
from wagate.store.models import Session
from wagate.store.repositories import sessions
from wagate.store.serialize import iso
from wagate.transports.base import Capabilities, NumberCheck, Transport, TransportContext
from wagate.transports.registry import TransportRegistry


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    data_dir: Path
    reconnect: RetryStrategy
    policy_defaults: DeliveryPolicy
    default_proxy_url: str | None = None
    stable_after_s: float = 60.0  # a connection this old resets the reconnect count
    bad_mac_window_s: float = 60.0
    bad_mac_threshold: int = 20
    bad_mac_cooldown_s: float = 30.0
    keepalive_interval_s: float = 30.0
    keepalive_timeout_s: float = 10.0
    idle_reconnect_s: float = 300.0  # for transports without keepalives


class SessionRuntime:
    """Owns one session's transport in this process and keeps its row up to date."""

    def __init__(
        self,
        ref: SessionRef,
        *,
        db: Database,
        registry: TransportRegistry,
        clock: Clock,
        recorder: EventRecorder,
        settings: RuntimeSettings,
        hooks: SessionHooks,
        metrics: Metrics,
        open_config: Callable[[Session], dict[str, Any]] | None = None,
        open_proxy: Callable[[Session], str | None] | None = None,
        writes: SessionWrites | None = None,
        lease: Lease | None = None,
    ) -> None:
        self.ref = ref
        self.lease = lease or Lease.unfenced()
        self._open_config = open_config or (lambda row: dict(row.config))
        self._open_proxy = open_proxy or (lambda row: row.proxy_url)
        self.db = db
        self.registry = registry
        self.clock = clock
        self.settings = settings
        self.hooks = hooks
        self.metrics = metrics
        self.recorder = recorder
        self._status_changes = (
            writes or SessionWrites.build(clock, hooks, db.session_rows)
        ).statuses
        self.transport: Transport | None = None
        self.status = SessionStatus.STOPPED
        self.reconnect_attempts = 0
        self._connected_since: datetime | None = None  # when the current connection opened
        self._lock = asyncio.Lock()  # events of one session are handled in order
        self._reconnect_task: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._rng = random.Random()
        self.watchdog = Watchdog(self)
        self.monitor = ProtocolMonitor(transport="", metrics=metrics)
        self.breaker = DecryptBreaker(settings.bad_mac_window_s, settings.bad_mac_threshold)
        self.log = structlog.get_logger("wagate.session").bind(session_id=ref.session_id)

    @property
    def session_id(self) -> str:
        return self.ref.session_id

    @property
    def closed(self) -> bool:
        """The runtime ended (stopped, logged out, failed); a new one is needed to run again."""
        return self._closed

    @property
    def connected(self) -> bool:
        return self.status is SessionStatus.CONNECTED and self.transport is not None

    def holds_lease(self) -> bool:
        """May this runtime act on the network now (see :mod:`wagate.sessions.lease`)."""
        return self.lease.holds(self.clock.now())

    async def lease_confirmed(self) -> bool:
        """Wait until the lease holds (True) or ended: lost to another worker, or the
        runtime closed (False)."""
        return await self.lease.confirmed(self.clock)

    @property
    def fence(self) -> tuple[str, int] | None:
        """(session id, fencing token) for the runtime's writes; None when not fenced."""
        token = self.lease.token
        return None if token is None else (self.session_id, token)

    @property
    def capabilities(self) -> Capabilities | None:
        """What the current transport can do; None while there is none."""
        transport = self.transport
        return None if transport is None else transport.capabilities

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._closed = False
        await self._set_status(SessionStatus.STARTING, None)
        await self._open_transport()

    async def _open_transport(self) -> None:
        if not await self.lease_confirmed():  # woke from a pause: connect only once renewed
            self.log.warning("lease ended before connecting: closed, or run by another worker")
            return
        async with self.db.read() as tx:
            row = await sessions.get_session(tx, self.session_id, None)
        context = TransportContext(
            session_id=row.id,
            session_name=row.name,
            config=self._open_config(row),
            credentials=dict(row.credentials) if row.credentials else None,
            data_dir=self.settings.data_dir,
            clock=self.clock,
            sink=self._on_event,
            proxy_url=self._open_proxy(row) or self.settings.default_proxy_url,
            submit=self._submit,
            lease_token=self.lease.token,
        )
        self.monitor.transport = row.transport
        transport = self.registry.create(row.transport, context)
        self.transport = transport
        try:
            async with self.monitor.track("connect"):
                await transport.connect()
        except Exception as exc:  # a transport that cannot even start: reconnect with backoff
            self.log.warning("connect failed", error=str(exc))
            await self._schedule_reconnect(Disconnected(code=500, reason=f"connect failed: {exc}"))

    async def close(
        self,
        status: SessionStatus = SessionStatus.STOPPED,
        reason: str | None = None,
        *,
        record: bool = True,
    ) -> None:
        """Close the transport and stop reconnecting; record ``status`` unless told not to."""
        self._closed = True
        self.lease.end()  # whatever waits for a renewal gives up
        self.watchdog.stop()
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect_task
            self._reconnect_task = None
        transport, self.transport = self.transport, None
        if transport is not None:
            try:
                await transport.close()
            except Exception as exc:
                self.log.warning("transport close failed", error=str(exc))
        if record:
            await self._set_status(status, reason, qr=None, qr_expires_at=None, pairing_code=None)

    async def logout(self) -> None:
        transport = self.transport
        if transport is not None:
            try:
                await transport.logout()
            except Exception as exc:
                self.log.warning("transport logout failed", error=str(exc))
        await self.close(record=False)
        await self._set_status(
            SessionStatus.LOGGED_OUT,
            "logout",
            credentials=None,
            qr=None,
            qr_expires_at=None,
            pairing_code=None,
        )

    async def request_pairing_code(self, phone: str) -> str:
        if self.transport is None:
            raise NotRunning("the session is not running; start it first")
        async with self.monitor.track("pairing_code"):
            return await self.transport.request_pairing_code(phone)

    async def pairing_code_for(self, phone: str) -> str:
        """A code to type on the phone ``phone`` (digits as people write them)."""
        digits = normalize_phone(phone)
        if self.status is SessionStatus.CONNECTED:
            raise Conflict("the session is already connected", code="already_connected")
        return await self.request_pairing_code(digits)

    # ------------------------------------------------------------------ connected operations
    # What callers do with the live connection goes through these: the capability is
    # checked, the protocol monitor counts the call, and a connection found dead is
    # reported in one place.

    def _live(self, what: str, capable: Callable[[Capabilities], bool]) -> Transport:
        transport = self.transport
        if not self.connected or transport is None:
            raise NotConnected("the session is not connected")
        if not self.holds_lease():  # checked last, right before the call goes out
            raise NotConnected("the session's lease awaits renewal on this worker")
        transport.capabilities.require(what, capable(transport.capabilities))
        return transport

    @contextlib.asynccontextmanager
    async def _operation(self, name: str) -> AsyncIterator[None]:
        try:
            async with self.monitor.track(name):
                yield
        except ConnectionGone:
            self.report_dead_connection()
            raise

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Transmit one message. Raises :class:`NotConnected` when the session is not
        connected or its lease is not confirmed here, and the transport's errors."""
        transport = self._live("messages", lambda c: True)
        async with self._operation("send"):
            return await transport.send(message)

    async def subscribe_presence(self, chat: Jid) -> None:
        transport = self._live("presence", lambda c: c.presence)
        async with self._operation("presence"):
            await transport.subscribe_presence(chat)

    async def send_presence(self, chat: Jid, state: PresenceState) -> None:
        transport = self._live("presence", lambda c: c.presence)
        async with self._operation("presence"):
            await transport.send_presence(chat, state)

    async def mark_read(self, chat: Jid, wa_message_ids: list[str], sender: str | None) -> None:
        transport = self._live("read receipts", lambda c: c.read_receipts)
        async with self._operation("read_receipts"):
            await transport.mark_read(chat, wa_message_ids, sender)

    async def check_numbers(self, phones: list[str]) -> list[NumberCheck]:
        transport = self._live("number lookups", lambda c: c.check_numbers)
        async with self._operation("check_numbers"):
            return await transport.check_numbers(phones)

    async def manage_group(self, action: GroupAction) -> dict[str, Any]:
        transport = self._live("groups", lambda c: c.groups)
        async with self._operation("group"):
            return await transport.manage_group(action)

    async def manage_profile(self, action: ProfileAction) -> dict[str, Any]:
        transport = self._live("profiles", lambda c: c.profile)
        async with self._operation("profile"):
            return await transport.manage_profile(action)

    # ------------------------------------------------------------------ events

    async def ingest(self, event: TransportEvent) -> None:
        """An event that reached wagate by webhook (Cloud API, Evolution) rather than
        through the transport's own connection; handled like one the transport reported.

        A closed runtime still records messages and receipts: the engine delivered them
        and they must not be lost because the session is stopping.
        """
        if self._closed:
            if not await self.recorder.record(event):
                self.log.debug("ingested event ignored: session closed", kind=type(event).__name__)
            return
        await self._on_event(event)

    async def _on_event(self, event: TransportEvent) -> None:
        """The transport's sink: one event at a time, in order, committed before returning."""
        await (await self._submit(event))

    async def _submit(self, event: TransportEvent) -> Awaitable[None]:
        """The sink in two steps (:class:`~wagate.transports.base.EventSubmit`).

        Events are taken one at a time, in order. Messages and receipts are
        only queued for the database's next group commit while the lock is
        held; their commit is awaited after it is released, so the messages
        and receipts of a busy session commit many to a transaction. Anything
        else (connection changes) is handled whole under the lock.
        """
        if self._closed:
            return _nothing()
        self.watchdog.saw_traffic()
        async with self._lock:
            queued = await self.recorder.queue(event)
            if queued is not None:
                return queued
            await self._dispatch(event)
        return _nothing()

    async def _dispatch(self, event: TransportEvent) -> None:
        if isinstance(event, Unparseable):
            self.monitor.payload_unparseable()
        if await self.recorder.record(event):
            return
        match event:
            case UnknownEventType():
                self.monitor.unknown_event(f"{event.source}:{event.kind}")
            case DecryptFailed():
                await self._on_decrypt_failed(event)
            case QrUpdated():
                await self._set_status(
                    SessionStatus.QR,
                    None,
                    qr=event.qr,
                    qr_expires_at=event.expires_at,
                    extra_event=(
                        "session.qr",
                        {"qr": event.qr, "expires_at": iso(event.expires_at)},
                    ),
                )
            case PairingCodeIssued():
                await self._set_status(
                    SessionStatus.QR,
                    None,
                    pairing_code=event.code,
                    extra_event=(
                        "session.pairing_code",
                        {"code": event.code, "phone": event.phone},
                    ),
                )
            case CredentialsUpdated():
                async with self.db.transaction() as tx:
                    row = await sessions.get_session(tx, self.session_id, None, for_update=True)
                    if self.lease.token is not None and row.lease_token != self.lease.token:
                        self._fenced()
                        return
                    row.credentials = event.credentials
            case Connected():
                self._connected_since = self.clock.now()
                await self._set_status(
                    SessionStatus.CONNECTED,
                    None,
                    phone=event.phone,
                    push_name=event.push_name,
                    lid=event.lid,
                    qr=None,
                    qr_expires_at=None,
                    pairing_code=None,
                    connected_at=self.clock.now(),
                )
                if self.transport is not None:
                    self.watchdog.start(self.transport)
                self.hooks.session_connected(self.session_id)
            case Disconnected():
                await self._on_disconnected(event)

    # ------------------------------------------------------------------ dead connections

    async def connection_lost(self, reason: str, transport: Transport | None = None) -> None:
        """The connection is dead although the transport did not say so: reconnect."""
        if self._closed or (transport is not None and self.transport is not transport):
            return
        self.log.warning("connection presumed dead", reason=reason)
        async with self._lock:
            if self.status is SessionStatus.CONNECTED:
                await self._on_disconnected(Disconnected(code=408, reason=reason))

    def report_dead_connection(self) -> None:
        """A send found no connection while the session claims ``connected`` (a zombie)."""
        if self.connected:
            self._spawn(self.connection_lost("zombie", self.transport), "zombie")

    async def _on_decrypt_failed(self, event: DecryptFailed) -> None:
        """Count, log in aggregate (the first of a window, then every hundredth), trip."""
        self.metrics.decrypt_failures.labels(self.session_id).inc()
        tripped = self.breaker.record(self.clock.now())
        if self.breaker.in_window == 1 or self.breaker.total % 100 == 0:
            self.log.warning(
                "decrypt failures",
                in_window=self.breaker.in_window,
                total=self.breaker.total,
                error=event.error,
            )
        if not tripped or (self._reconnect_task and not self._reconnect_task.done()):
            return
        failures = self.breaker.in_window
        self.breaker.reset()
        cooldown = self.settings.bad_mac_cooldown_s
        await self._set_status(
            SessionStatus.RECONNECTING,
            "bad_mac",
            credentials=None,
            reason_detail={"cooldown_s": cooldown},
            extra_event=(
                "alert",
                {
                    "kind": "bad_mac_storm",
                    "failures": failures,
                    "window_s": self.settings.bad_mac_window_s,
                    "message": "decrypt failures: the session's keys were "
                    "wiped; scan a new QR code",
                },
            ),
        )
        self._reconnect_task = asyncio.get_running_loop().create_task(
            self._relink_after(cooldown), name=f"relink:{self.session_id}"
        )

    async def _relink_after(self, cooldown: float) -> None:
        """Drop the corrupt login (unlink the device), wait, and start again with a new QR."""
        old, self.transport = self.transport, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.logout()
        await self.clock.sleep(cooldown)
        if self._closed:
            return
        self._reconnect_task = None
        await self._set_status(SessionStatus.STARTING, None)
        await self._open_transport()

    async def _on_disconnected(self, event: Disconnected) -> None:
        if not is_known_close_code(event.code, event.reason):
            self.monitor.unknown_close_code(event.code)
        rule = rule_for(event.code, event.reason)
        self.log.info("disconnected", code=event.code, reason=event.reason, action=rule.action)
        if rule.action in (Action.LOGGED_OUT, Action.STOP):
            fields: dict[str, Any] = {
                "qr": None,
                "qr_expires_at": None,
                "pairing_code": None,
                "desired_state": DesiredState.STOPPED.value,
            }
            if rule.wipe_credentials:
                fields["credentials"] = None
            alert = (
                ("alert", {"kind": rule.reason, "code": event.code, "message": rule.alert})
                if rule.alert
                else None
            )
            await self._set_status(rule.status, rule.reason, extra_event=alert, **fields)
            # The transport reported its own end. Close it from another task: closing
            # cancels the transport's tasks, and this callback may be running in one.
            self._spawn(self.close(record=False), "close")
            return
        await self._schedule_reconnect(event)

    def _fenced(self) -> None:
        """A write was refused: another worker claimed the session. Stop acting for it and
        close the connection (from another task: this may run in the transport's)."""
        if self.lease.ended:
            return
        self.log.warning("lease taken over by another worker; closing the session here")
        self.lease.end()
        self._spawn(self.close(record=False), "fenced")

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"{what}:{self.session_id}")
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _schedule_reconnect(self, event: Disconnected) -> None:
        """Record ``reconnecting`` (or ``failed`` when out of attempts), then reopen later."""
        if self._closed or (self._reconnect_task and not self._reconnect_task.done()):
            return
        rule = rule_for(event.code, event.reason)
        if self._connected_since is not None and (
            self.clock.now() - self._connected_since
            >= timedelta(seconds=self.settings.stable_after_s)
        ):
            self.reconnect_attempts = 0  # the connection had been stable: start afresh
        self._connected_since = None
        self.reconnect_attempts += 1
        self.metrics.reconnects.labels(self.session_id).inc()
        strategy = self.settings.reconnect
        if self.reconnect_attempts > strategy.max_attempts:  # that many reconnects, all failed
            await self._set_status(
                SessionStatus.FAILED,
                "reconnect_attempts_exhausted",
                extra_event=(
                    "alert",
                    {
                        "kind": "reconnect_attempts_exhausted",
                        "attempts": strategy.max_attempts,
                    },
                ),
            )
            self._spawn(self.close(record=False), "close")  # after the status: see above
            return
        delay = (
            0.0
            if rule.action is Action.RECONNECT_NOW
            else strategy.delay(self.reconnect_attempts, self._rng)
        )
        if rule.action is Action.RECONNECT_SLOW:
            delay *= 2
        await self._set_status(
            SessionStatus.RECONNECTING,
            rule.reason,
            reason_detail={
                "code": event.code,
                "cause": event.reason or None,
                "attempt": self.reconnect_attempts,
                "delay_s": round(delay, 3),
            },
        )
        self._reconnect_task = asyncio.get_running_loop().create_task(
            self._reconnect_after(delay), name=f"reconnect:{self.session_id}"
        )

    async def _reconnect_after(self, delay: float) -> None:
        await self.clock.sleep(delay)
        old, self.transport = self.transport, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        if self._closed:
            return
        self._reconnect_task = None
        await self._set_status(SessionStatus.STARTING, None)
        await self._open_transport()

    # ------------------------------------------------------------------ persistence

    async def _set_status(
        self,
        status: SessionStatus,
        reason: str | None,
        *,
        extra_event: tuple[str, dict[str, Any]] | None = None,
        reason_detail: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        change = StatusChange(
            self.session_id,
            status,
            reason,
            self.clock.now(),
            detail=reason_detail,
            fields=fields,
            extra_event=extra_event,
            lease_token=self.lease.token,
        )
        try:
            await self.db.batches.submit(self._status_changes, change)
        except StaleLease:
            self._fenced()
            return
        if self.status is not status:
            self.metrics.session_transitions.labels(status.value).inc()
        self.status = status
        self.hooks.events_committed()


async def _nothing() -> None:
    """An event handled (and committed) before its submission returned."""
