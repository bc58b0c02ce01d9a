"""The evolution transport: an existing Evolution API server is the WhatsApp engine.

Outbound goes through Evolution's REST API; inbound arrives by Evolution's
webhooks at ``/v1/ingest/evolution/{session}`` (see :mod:`.normalize`), which
may reach any worker. The transport itself watches the connection:

* ``connect()`` asks ``/instance/connectionState``. ``open`` means logged in:
  it reports ``Connected`` (phone and name from ``/instance/fetchInstances``).
  Otherwise it starts a login with ``/instance/connect`` and reports the QR code.
  An instance that was linked before and is ``connecting`` is left to reconnect
  on its own (Evolution would otherwise hand back its last, stale QR code).
* While not connected it polls ``connectionState`` every ``poll_interval_s`` on
  the session's clock, refreshing the QR code while Evolution waits for a scan.
* Once connected, the session's watchdog calls :meth:`keepalive`, which asks
  ``connectionState`` again and reports ``Disconnected`` when it is not ``open``.

Evolution chooses WhatsApp message ids itself, so ``choose_message_id`` is false.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from enum import Enum
from typing import Any

import httpx
import structlog

from wagate.domain import (
    Conflict,
    Connected,
    ConnectionGone,
    CredentialsUpdated,
    InvalidRequest,
    Jid,
    OutgoingMessage,
    PairingCodeIssued,
    PermanentSendError,
    PresenceState,
    QrUpdated,
    SendResult,
    TransportError,
    TransportEvent,
    normalize_phone,
    phone_of,
)
from wagate.domain.groups import GroupAction, GroupInfo
from wagate.domain.profiles import ProfileAction
from wagate.domain.urls import ensure_public_url
from wagate.transports.base import Capabilities, Transport, TransportContext
from wagate.transports.evolution.client import EvolutionClient
from wagate.transports.evolution.codecs import to_datetime
from wagate.transports.evolution.config import EvolutionConfig, parse_evolution_config
from wagate.transports.evolution.groups import run_group, run_profile
from wagate.transports.evolution.normalize import QR_TTL, connection_events
from wagate.transports.evolution.outbound import OUTBOUND_TYPES, number_of, request_for, sent_id

log = structlog.get_logger("wagate.evolution")

_SHOWN_PRESENCE = (PresenceState.COMPOSING, PresenceState.RECORDING)


class State(Enum):
    IDLE = "idle"  # created; connect() starts
    WAITING = "waiting"  # a linked instance is reconnecting by itself
    LOGIN = "login"  # waiting for a QR scan or a pairing code
    CONNECTED = "connected"
    CLOSED = "closed"  # closed, or the connection ended; a new transport is needed


class EvolutionTransport(Transport):
    """One session's Evolution instance."""

    name = "evolution"
    capabilities = Capabilities(
        qr=True,
        pairing_code=True,
        presence=True,
        read_receipts=True,
        choose_message_id=False,
        lid_destinations=True,
        keepalive=True,
        groups=True,
        profile=True,
        message_types=OUTBOUND_TYPES,
    )

    def __init__(
        self,
        context: TransportContext,
        *,
        allow_private_urls: bool = False,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(context)
        self.allow_private_urls = allow_private_urls
        self._http_transport = http_transport
        self.state = State.IDLE
        self._config: EvolutionConfig | None = None
        self._client: EvolutionClient | None = None
        self._last_qr: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None
        self.own_phone: str | None = None  # the instance's number, once connected
        self._shut = False  # close() ran: this transport is done
        self.log = log.bind(session_id=context.session_id)

    # ------------------------------------------------------------------ setup

    @property
    def config(self) -> EvolutionConfig:
        if self._config is None:
            self._config = parse_evolution_config(self.context.config)
        return self._config

    @property
    def instance(self) -> str:
        return self.config.instance or self.context.session_name

    @property
    def client(self) -> EvolutionClient:
        if self._shut:
            raise ConnectionGone("the evolution transport is closed")
        if self._client is None:
            config = self.config
            self._client = EvolutionClient(
                config.base_url,
                self.instance,
                config.api_key,
                timeout_s=config.timeout_s,
                transport=self._http_transport,
            )
        return self._client

    async def _emit(self, event: TransportEvent) -> None:
        await self.context.sink(event)

    # ------------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        if self.state in (State.LOGIN, State.CONNECTED, State.WAITING):
            return
        await ensure_public_url(self.config.base_url, allow_private=self.allow_private_urls)
        state = await self.client.connection_state()
        if state == "open":
            await self._go_online()
            return
        if self.context.credentials:
            # Linked before: let the instance reconnect. Its /instance/connect answer may
            # carry the QR code of the first login, so none is shown; a genuinely new one
            # arrives by the qrcode.updated webhook.
            if state != "connecting":
                await self.client.connect()
            self.state = State.WAITING
        else:
            await self._start_login()
        await self._start_polling()

    async def close(self) -> None:
        self.state = State.CLOSED
        self._shut = True
        current = asyncio.current_task()
        for task in [*self._tasks, *([self._poller] if self._poller else [])]:
            if task is not current:
                task.cancel()
        await asyncio.gather(*(t for t in self._tasks if t is not current), return_exceptions=True)
        self._tasks.clear()
        if self._poller is not None and self._poller is not current:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
        self._poller = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def logout(self) -> None:
        try:
            await self.client.logout()
        except TransportError as exc:  # an instance that is not logged in answers 4xx
            self.log.info("evolution logout refused", error=exc.message)
        self.context.credentials = None
        await self._emit(CredentialsUpdated(None))
        await self.close()

    # ------------------------------------------------------------------ login and watching

    async def _start_login(self, number: str | None = None) -> dict[str, Any]:
        self.state = State.LOGIN
        answer = await self.client.connect(number)
        nested = answer.get("instance")
        if isinstance(nested, dict) and str(nested.get("state")).lower() == "open":
            await self._go_online()
            return answer
        await self._show_qr(answer)
        return answer

    async def _show_qr(self, answer: dict[str, Any]) -> None:
        code = answer.get("code")
        if isinstance(code, str) and code and code != self._last_qr and self.state is State.LOGIN:
            self._last_qr = code
            await self._emit(QrUpdated(qr=code, expires_at=self.context.clock.now() + QR_TTL))

    async def _go_online(self) -> None:
        phone: str | None = None
        push_name: str | None = None
        try:
            info = await self.client.instance_info()
        except TransportError as exc:
            self.log.info("evolution instance info unavailable", error=exc.message)
            info = {}
        owner = info.get("ownerJid") or info.get("owner")
        if isinstance(owner, str):
            phone = phone_of(owner) or (owner if owner.isdigit() else None)
        name = info.get("profileName")
        push_name = name if isinstance(name, str) and name else None
        self.state = State.CONNECTED
        self.own_phone = phone
        if not self.context.credentials:
            credentials = {"instance": self.instance, "phone": phone}
            self.context.credentials = credentials
            await self._emit(CredentialsUpdated(dict(credentials)))
        await self._emit(Connected(phone, push_name))

    async def _start_polling(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(
                self._poll(), name=f"evolution-poll:{self.context.session_id}"
            )
            await asyncio.sleep(0)  # let it start sleeping on the clock before time moves

    async def _poll(self) -> None:
        """Until connected: watch ``connectionState``; refresh the QR while Evolution shows one."""
        clock = self.context.clock
        while self.state in (State.LOGIN, State.WAITING):
            await clock.sleep(self.config.poll_interval_s)
            if self.state not in (State.LOGIN, State.WAITING):
                return
            try:
                state = await self.client.connection_state()
                if state == "open":
                    await self._go_online()
                    return
                if self.state is State.WAITING:
                    if state != "connecting":
                        await self.client.connect()
                elif state == "connecting":
                    await self._show_qr(await self.client.connect())
                elif self._last_qr is None:  # the login has not started yet: start it
                    await self._start_login()
                else:  # Evolution closed the login it was showing: the QR codes ran out
                    self.state = State.CLOSED
                    await self._emit_all(connection_events("refused", None, {}))
                    return
            except TransportError as exc:
                self.log.info("evolution poll failed", error=exc.message)

    async def _emit_all(self, events: list[TransportEvent]) -> None:
        for event in events:
            await self._emit(event)

    async def keepalive(self) -> None:
        """Ask Evolution for the connection state; report a drop when it is not ``open``."""
        state = await self.client.connection_state()
        if state == "open" or self.state is not State.CONNECTED:
            return
        self.state = State.CLOSED
        code = 428 if state == "connecting" else None
        await self._emit_all(connection_events("close", code, {}))

    async def request_pairing_code(self, phone: str) -> str:
        digits = normalize_phone(phone)
        if self.state is State.CONNECTED:
            raise Conflict("the session is already logged in", code="already_logged_in")
        answer = await self._start_login(digits)
        code = answer.get("pairingCode")
        if not (isinstance(code, str) and code):
            # Evolution only issues a code when the login starts with the number:
            # restart the login that is showing a QR code.
            with contextlib.suppress(TransportError):
                await self.client.logout()
            answer = await self._start_login(digits)
            code = answer.get("pairingCode")
        if not (isinstance(code, str) and code):
            raise InvalidRequest(
                "Evolution did not issue a pairing code for this number", code="pairing_unavailable"
            )
        if len(code) == 8 and "-" not in code:
            code = f"{code[:4]}-{code[4:]}"
        await self._start_polling()
        await self._emit(PairingCodeIssued(code=code, phone=digits))
        return code

    # ------------------------------------------------------------------ outbound

    async def send(self, message: OutgoingMessage) -> SendResult:
        call = request_for(message)
        answer = await self.client.call(call.method, call.group, call.action, json=call.body)
        wa_id = sent_id(answer)
        if wa_id is None:
            raise PermanentSendError(
                f"Evolution accepted the {message.type.value} message but returned no id",
                code="evolution_no_message_id",
            )
        sent_at = to_datetime((answer or {}).get("messageTimestamp")) or self.context.clock.now()
        return SendResult(wa_message_id=wa_id, timestamp=sent_at, extra={"evolution": call.action})

    async def manage_group(self, action: GroupAction) -> dict[str, Any]:
        self._require_online()
        return await run_group(self.client, action)

    async def group_info(self, group: Jid) -> dict[str, Any]:
        return await self.manage_group(GroupInfo(group=group))

    async def manage_profile(self, action: ProfileAction) -> dict[str, Any]:
        self._require_online()
        return await run_profile(self.client, action, self.own_phone)

    def _require_online(self) -> None:
        if self.state is not State.CONNECTED:
            raise ConnectionGone("the Evolution instance is not connected")

    async def subscribe_presence(self, chat_id: Jid) -> None:
        """Nothing to do: Evolution subscribes to a chat's presence when it shows its own."""

    async def send_presence(self, chat_id: Jid, state: PresenceState) -> None:
        """Show presence. Evolution holds a typing/recording state for ``delay`` ms and only
        then answers, so those calls run in the background instead of stalling the sender."""
        body = {"number": number_of(chat_id), "presence": state.value, "delay": 0}
        if state in _SHOWN_PRESENCE:
            body["delay"] = self.config.presence_ms
            self._spawn(self._presence_call(body))
            return
        await self.client.chat("sendPresence", body)

    async def _presence_call(self, body: dict[str, Any]) -> None:
        try:
            await self.client.chat("sendPresence", body)
        except TransportError as exc:
            self.log.info("evolution presence failed", error=exc.message)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def mark_read(self, chat_id: Jid, wa_message_ids: list[str], sender: str | None) -> None:
        keys = [{"remoteJid": chat_id, "fromMe": False, "id": wa_id} for wa_id in wa_message_ids]
        if keys:
            await self.client.chat("markMessageAsRead", {"readMessages": keys})
