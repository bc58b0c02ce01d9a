"""The whatsmeow transport: a session's link to its engine host, through the supervisor.

Nothing here touches neonize. ``connect`` asks the supervisor for a host and
opens the session there; from then on the host reports normalized events,
which this class hands to the session's sink in order, from one task. Two
things are decided here rather than in the host, because they need the
session's injected clock or settings:

* a QR code's expiry (whatsmeow shows the first code for 60 s, the next ones
  for 20 s each) and the QR limit: after ``qr_max_codes`` unscanned codes the
  session ends with ``Disconnected(408, "qr_timeout")``;
* whether the device store is fresh: the database is the source of truth, so a
  session whose stored credentials are gone starts from a wiped store.

A dead host (segfault, Go panic, kill -9) arrives as ``on_host_lost`` and is
reported as ``Disconnected(500)``: the runtime reconnects, and ``connect``
lands the session on a live or restarted host.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from wagate.domain import (
    CHANGE_TYPES,
    SENDABLE_TYPES,
    ConnectionGone,
    CredentialsUpdated,
    Disconnected,
    Jid,
    MessageType,
    OutgoingMessage,
    PresenceState,
    QrUpdated,
    SendResult,
    TransportError,
    TransportEvent,
)
from wagate.domain.groups import GroupAction
from wagate.domain.profiles import ProfileAction
from wagate.transports.base import Capabilities, NumberCheck, Transport, TransportContext
from wagate.transports.whatsmeow.protocol import RawQr, outgoing_to_wire

if TYPE_CHECKING:
    from wagate.transports.whatsmeow.supervisor import EngineHost, EngineSupervisor

log = structlog.get_logger("wagate.whatsmeow")

FIRST_QR_S = 60.0
NEXT_QR_S = 20.0
HOST_LOST_CODE = 500

OUTBOUND_TYPES = SENDABLE_TYPES | CHANGE_TYPES | {MessageType.STICKER, MessageType.POLL}


class WhatsmeowTransport(Transport):
    """One session on whatsmeow (multi-device WhatsApp Web), run in an engine host."""

    name = "whatsmeow"
    capabilities = Capabilities(
        proxy=True,
        qr=True,
        pairing_code=True,
        presence=True,
        read_receipts=True,
        # neonize 0.5.2's SendMessage takes no message id (whatsmeow's SendRequestExtra.ID
        # is not passed through), so whatsmeow picks it; the outbox treats an interrupted
        # send as "outcome unknown" instead of retrying with the same id.
        choose_message_id=False,
        lid_destinations=True,
        keepalive=True,
        check_numbers=True,
        groups=True,
        profile=True,
        message_types=OUTBOUND_TYPES,
    )

    def __init__(self, context: TransportContext, supervisor: EngineSupervisor) -> None:
        super().__init__(context)
        self.supervisor = supervisor
        self.host: EngineHost | None = None
        self._queue: asyncio.Queue[TransportEvent | RawQr] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._closed = False
        self._qr_shown = 0
        self._ended = False  # a Disconnected was reported; later events are stale

    @property
    def session_id(self) -> str:
        return self.context.session_id

    @property
    def store_dir(self) -> Path:
        return self.supervisor.store_dir(self.session_id)

    # ------------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        if self.host is not None and self.host.alive:
            return
        self._closed = False
        self._ended = False
        self._qr_shown = 0
        host = await self.supervisor.attach(self.session_id, self)
        self.host = host
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(
                self._run_pump(), name=f"whatsmeow-events:{self.session_id}"
            )
        credentials = self.context.credentials or {}
        try:
            await host.request(
                "open",
                session=self.session_id,
                store_dir=str(self.store_dir),
                proxy_url=self.context.proxy_url,
                fresh=not credentials,
                known_jid=credentials.get("jid"),
                max_media_bytes=self.supervisor.settings.max_media_bytes,
            )
        except BaseException:
            self.supervisor.detach(self.session_id, host, self)
            self.host = None
            raise

    async def close(self) -> None:
        self._closed = True
        host, self.host = self.host, None
        if host is not None:
            self.supervisor.detach(self.session_id, host, self)
            if host.alive:
                try:
                    await host.request("close", session=self.session_id, timeout=30)
                except TransportError as exc:
                    log.warning("closing the session on its engine host failed", error=str(exc))
        if self._pump is not None:
            if self._pump is not asyncio.current_task():
                self._pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pump
            self._pump = None

    async def logout(self) -> None:
        host = self.host
        if host is not None and host.alive:
            try:
                await host.request("logout", session=self.session_id, timeout=60)
            except TransportError as exc:
                log.warning("logout on the engine host failed", error=str(exc))
        shutil.rmtree(self.store_dir, ignore_errors=True)  # files only: no Go in this process
        self.context.credentials = None
        if not self._closed:
            await self.context.sink(CredentialsUpdated(None))
        await self.close()

    # ------------------------------------------------------------------ events

    def on_host_event(self, event: TransportEvent | RawQr) -> None:
        self._queue.put_nowait(event)

    def on_host_lost(self, reason: str) -> None:
        self.host = None
        self._queue.put_nowait(Disconnected(HOST_LOST_CODE, reason))

    async def _run_pump(self) -> None:
        """Hand the host's events to the sink, one at a time, in order."""
        while True:
            event = await self._queue.get()
            if self._closed:
                continue
            try:
                await self._deliver(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # the sink's problem must not stop later events
                log.exception("session event handling failed", session_id=self.session_id)

    async def _deliver(self, event: TransportEvent | RawQr) -> None:
        if isinstance(event, RawQr):
            await self._qr(event)
            return
        if isinstance(event, Disconnected):
            if self._ended:
                return  # one end per connection: the rest are echoes of it
            self._ended = True
        await self.context.sink(event)

    async def _qr(self, event: RawQr) -> None:
        limit = self.supervisor.settings.qr_max_codes
        if self._qr_shown >= limit:
            if not self._ended:
                self._ended = True
                await self.context.sink(Disconnected(408, "qr_timeout"))
            return
        self._qr_shown += 1
        ttl = FIRST_QR_S if event.index == 0 else NEXT_QR_S
        expires = self.context.clock.now() + timedelta(seconds=ttl)
        await self.context.sink(QrUpdated(qr=event.code, expires_at=expires))

    # ------------------------------------------------------------------ requests

    def _live_host(self) -> EngineHost:
        host = self.host
        if host is None or not host.alive:
            raise ConnectionGone("the session is not connected")
        return host

    async def _call(self, op: str, **fields: Any) -> Any:
        result, _ = await self._live_host().request(op, session=self.session_id, **fields)
        return result

    async def request_pairing_code(self, phone: str) -> str:
        result = await self._call("pair", phone=phone, timeout=60)
        return str(result["code"])

    async def keepalive(self) -> None:
        await self._call("keepalive", timeout=30)

    async def send(self, message: OutgoingMessage) -> SendResult:
        header, blob = outgoing_to_wire(message)
        result, _ = await self._live_host().request(
            "send", session=self.session_id, message=header, blob=blob
        )
        timestamp = result.get("timestamp") or 0
        if timestamp > 10**11:  # milliseconds
            timestamp /= 1000
        when = datetime.fromtimestamp(timestamp, UTC) if timestamp else self.context.clock.now()
        return SendResult(wa_message_id=str(result["id"]), timestamp=when)

    async def subscribe_presence(self, chat_id: Jid) -> None:
        await self._call("subscribe", chat=chat_id)

    async def send_presence(self, chat_id: Jid, state: PresenceState) -> None:
        await self._call("presence", chat=chat_id, state=state.value)

    async def mark_read(self, chat_id: Jid, wa_message_ids: list[str], sender: str | None) -> None:
        await self._call("read", chat=chat_id, ids=wa_message_ids, sender=sender)

    async def check_numbers(self, phones: list[str]) -> list[NumberCheck]:
        result = await self._call("check", phones=phones, timeout=60)
        return [
            NumberCheck(phone=item["phone"], on_whatsapp=bool(item["on_whatsapp"]), jid=item["jid"])
            for item in result
        ]

    async def group_info(self, group: Jid) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("group_info", jid=group, timeout=60)
        return result

    async def manage_profile(self, action: ProfileAction) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "profile", action=action.model_dump(mode="json"), timeout=60
        )
        return result

    async def manage_group(self, action: GroupAction) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "group", action=action.model_dump(mode="json"), timeout=60
        )
        return result

    async def test_command(self, command: str, **args: Any) -> Any:
        """Drive a test engine inside the host (only when the host runs with test commands)."""
        return await self._call("test", command=command, args=args)
