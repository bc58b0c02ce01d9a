"""The cloud transport: one session's WhatsApp Business Cloud API number, through pywa.

There is no socket to keep open: "connecting" checks the credentials with one
Graph call (the phone number's display number) and reports ``Connected`` or
``Disconnected`` with a close code the session policy understands (401 for a
void token: the session goes ``logged_out``; 500/503 reconnect with backoff).
Inbound messages and statuses do not come through the transport at all: Meta
posts them to ``/v1/ingest/cloud``, which hands them to the session manager.

Meta picks the message id (``wamid...``) and returns it from the send call,
so ``choose_message_id`` is false. Typing indicators exist only as a reply to
a received message: the transport remembers, per chat, the last message it
marked read and shows typing on that one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import structlog
from pywa.types.callback import Button, Section, SectionList, SectionRow
from pywa.types.others import Contact
from pywa_async.client import WhatsApp
from pywa_async.errors import WhatsAppError

from wagate.domain import (
    SENDABLE_TYPES,
    Connected,
    ConnectionGone,
    Disconnected,
    Jid,
    ListMenu,
    MessageType,
    OutgoingMessage,
    PermanentSendError,
    PresenceState,
    SendResult,
    TransientSendError,
    TransportError,
    TransportEvent,
    UnsupportedByTransport,
    is_group,
    is_lid,
    phone_jid,
    phone_of,
)
from wagate.domain.profiles import Block, OwnProfile, ProfileAction, UpdateProfile
from wagate.transports.base import Capabilities, Transport, TransportContext
from wagate.transports.cloud.config import CloudConfig, parse_cloud_config
from wagate.transports.cloud.errors import close_code_for, rule_for, send_error
from wagate.transports.cloud.graph import GraphSettings, graph_client

log = structlog.get_logger("wagate.transports.cloud")

OUTBOUND_TYPES = SENDABLE_TYPES | {MessageType.STICKER, MessageType.BUTTONS, MessageType.LIST}
TYPING_STATES = (PresenceState.COMPOSING, PresenceState.RECORDING)
RECHECK_S = 600.0  # how often a keepalive really asks Graph whether the token still works


class CloudTransport(Transport):
    """A cloud session's link to its phone number on the Graph API."""

    name = "cloud"
    capabilities = Capabilities(
        proxy=True,  # the Graph API calls
        qr=False,
        pairing_code=False,
        presence=True,  # typing indicators (on the last message read in the chat)
        read_receipts=True,
        choose_message_id=False,
        lid_destinations=False,
        keepalive=True,  # a credentials re-check now and then (see keepalive)
        profile=True,  # the business profile's about text, and blocking (what Graph allows)
        message_types=OUTBOUND_TYPES,
    )

    def __init__(self, context: TransportContext, graph: GraphSettings | None = None) -> None:
        super().__init__(context)
        self.graph = graph or GraphSettings()
        self.config: CloudConfig = parse_cloud_config(context.config)
        self._wa: WhatsApp | None = None
        self._http: httpx.AsyncClient | None = None
        self._last_read: dict[str, str] = {}  # chat -> the last wamid marked read there
        self._checked_at: datetime | None = None  # when Graph last accepted the token
        self._number: tuple[str | None, str | None] = (None, None)  # digits, verified name

    # ------------------------------------------------------------------ lifecycle

    def _client(self) -> WhatsApp:
        if self._wa is None:
            self._wa, self._http = graph_client(
                self.config.phone_number_id,
                self.config.access_token,
                self.graph,
                proxy_url=self.context.proxy_url,
            )
        return self._wa

    async def _emit(self, event: TransportEvent) -> None:
        await self.context.sink(event)

    async def connect(self) -> None:
        """Check the token against the phone number; report the outcome as an event."""
        wa = self._client()
        try:
            number = await wa.get_business_phone_number()
        except WhatsAppError as exc:
            code = close_code_for(exc.code, exc.status_code)
            log.warning(
                "cloud credentials check failed",
                session_id=self.context.session_id,
                graph_code=exc.code,
                close_code=code,
            )
            await self._emit(Disconnected(code, f"graph error {exc.code}: {exc.message}"))
            return
        except httpx.HTTPError as exc:
            log.warning(
                "graph unreachable", session_id=self.context.session_id, error=type(exc).__name__
            )
            await self._emit(Disconnected(500, f"graph unreachable: {type(exc).__name__}"))
            return
        self._checked_at = self.context.clock.now()
        digits = "".join(ch for ch in (number.display_phone_number or "") if ch.isdigit())
        self._number = (digits or None, number.verified_name)
        await self._emit(Connected(phone=digits or None, push_name=number.verified_name))

    async def keepalive(self) -> None:
        """There is no connection to keep; the token is re-checked every
        :data:`RECHECK_S` and otherwise this answers at once.

        Answering keeps the watchdog from taking a quiet number (no inbound
        webhooks for a while) for a dead connection and reconnecting it over and
        over; the periodic check notices a token revoked in Meta's dashboard.
        A failed check raises, and the reconnect that follows classifies it.
        """
        now = self.context.clock.now()
        if self._checked_at is not None and (now - self._checked_at).total_seconds() < RECHECK_S:
            return
        await self._require_client().get_business_phone_number()
        self._checked_at = now

    async def close(self) -> None:
        http, self._http, self._wa = self._http, None, None
        if http is not None:
            await http.aclose()

    async def logout(self) -> None:
        """Nothing is linked to unlink: the token stays valid at Meta. Just close."""
        await self.close()

    # ------------------------------------------------------------------ sending

    async def send(self, message: OutgoingMessage) -> SendResult:
        if self._wa is None:
            raise ConnectionGone("the session is not connected")
        to = recipient_of(message.to)
        try:
            sent = await self._dispatch(self._wa, to, message)
        except WhatsAppError as exc:
            raise await self._graph_failure(exc) from None
        except httpx.HTTPError as exc:
            raise TransientSendError(
                f"graph unreachable: {type(exc).__name__}", code="graph_unreachable"
            ) from None
        except ValueError as exc:  # pywa refused the input before any request
            raise PermanentSendError(str(exc), code="invalid_request") from None
        return SendResult(wa_message_id=str(sent.id), timestamp=self.context.clock.now())

    async def _graph_failure(self, exc: WhatsAppError) -> TransportError:
        """The error to raise for a Graph error; token trouble also ends the connection."""
        rule = rule_for(exc.code, exc.status_code)
        if rule.close_code is not None:
            await self._emit(Disconnected(rule.close_code, f"graph error {exc.code}: {rule.code}"))
            return ConnectionGone(f"{exc.message} (Graph error {exc.code})")
        return send_error(exc.code, str(exc.message), exc.status_code)

    async def _dispatch(self, wa: WhatsApp, to: str, message: OutgoingMessage) -> Any:
        reply = message.reply_to
        media = message.media
        kind = message.type
        if kind is MessageType.TEXT:
            return await wa.send_message(to, message.text or "", reply_to_message_id=reply)
        if kind is MessageType.LOCATION and message.location is not None:
            loc = message.location
            return await wa.send_location(
                to, loc.latitude, loc.longitude, loc.name, loc.address, reply_to_message_id=reply
            )
        if kind is MessageType.CONTACT and message.contact is not None:
            return await wa.send_contact(
                to,
                contact_of(message.contact.name, message.contact.phone),
                reply_to_message_id=reply,
            )
        if kind is MessageType.BUTTONS and message.buttons is not None:
            menu = message.buttons
            return await wa.send_message(
                to,
                menu.text,
                header=menu.header,
                footer=menu.footer,
                buttons=[Button(title=b.title, callback_data=b.id) for b in menu.buttons],
                reply_to_message_id=reply,
            )
        if kind is MessageType.LIST and message.list_menu is not None:
            return await wa.send_message(
                to,
                message.list_menu.text,
                header=message.list_menu.header,
                footer=message.list_menu.footer,
                buttons=section_list(message.list_menu),
                reply_to_message_id=reply,
            )
        if kind is MessageType.REACTION and message.reaction is not None:
            target = message.reaction.message_id
            if message.reaction.emoji:
                return await wa.send_reaction(to, message.reaction.emoji, target)
            return await wa.remove_reaction(to, target)
        if media is None:
            raise PermanentSendError(
                f"a {kind.value} message needs its parts", code="invalid_request"
            )
        data, mime = media.data, media.mime_type
        if kind is MessageType.IMAGE:
            return await wa.send_image(
                to, data, caption=message.text, mime_type=mime, reply_to_message_id=reply
            )
        if kind is MessageType.VIDEO:
            return await wa.send_video(
                to, data, caption=message.text, mime_type=mime, reply_to_message_id=reply
            )
        if kind is MessageType.DOCUMENT:
            return await wa.send_document(
                to,
                data,
                filename=media.file_name or "document",
                caption=message.text,
                mime_type=mime,
                reply_to_message_id=reply,
            )
        if kind is MessageType.AUDIO:
            return await wa.send_audio(to, data, mime_type=mime, reply_to_message_id=reply)
        if kind is MessageType.VOICE:
            return await wa.send_voice(to, data, mime_type=mime, reply_to_message_id=reply)
        if kind is MessageType.STICKER:
            return await wa.send_sticker(to, data, mime_type=mime, reply_to_message_id=reply)
        raise PermanentSendError(
            f"the Cloud API cannot send {kind.value} messages", code="unsupported_by_transport"
        )

    # ------------------------------------------------------------------ the profile

    async def manage_profile(self, action: ProfileAction) -> dict[str, Any]:
        """The business profile (its ``about``) and blocking. The display name changes only
        through Meta's review, and Graph shows no one's profile to a business: those are
        422 ``unsupported_by_transport``."""
        wa = self._require_client()
        try:
            match action:
                case Block():
                    user = recipient_of(Jid(action.jid))
                    if action.blocked:
                        await wa.block_users([user])
                    else:
                        await wa.unblock_users([user])
                    return {"jid": action.jid, "blocked": action.blocked}
                case UpdateProfile() if action.name is None and action.about is not None:
                    await wa.update_business_profile(about=action.about)
                case OwnProfile():
                    pass
                case _:
                    raise UnsupportedByTransport(
                        "the Cloud API changes a business's name and picture through Meta's "
                        "business manager, and shows no contact's profile"
                    )
            profile = await wa.get_business_profile()
        except WhatsAppError as exc:
            raise await self._graph_failure(exc) from None
        phone, name = self._number
        return {
            "jid": phone_jid(phone) if phone else "",
            "phone": phone,
            "name": name,
            "about": profile.about or None,
            "picture_url": profile.profile_picture_url or None,
        }

    # ------------------------------------------------------------------ courtesies

    async def subscribe_presence(self, chat_id: Jid) -> None:
        """The Cloud API tells nobody's presence; nothing to subscribe to."""

    async def mark_read(self, chat_id: Jid, wa_message_ids: list[str], sender: str | None) -> None:
        """Mark the first id read (pacing passes the newest first); Meta marks the
        earlier messages of the thread read with it."""
        if not wa_message_ids:
            return
        wa = self._require_client()
        try:
            await wa.mark_message_as_read(wa_message_ids[0])
        except WhatsAppError as exc:
            raise await self._graph_failure(exc) from None
        except httpx.HTTPError as exc:
            raise TransientSendError(
                f"graph unreachable: {type(exc).__name__}", code="graph_unreachable"
            ) from None
        self._last_read[chat_id] = wa_message_ids[0]

    async def send_presence(self, chat_id: Jid, state: PresenceState) -> None:
        """Typing (and recording, which the Cloud API shows as typing) on the last message
        read in the chat; other states are no-ops: the indicator ends by itself when the
        reply arrives or after 25 seconds."""
        if state not in TYPING_STATES:
            return
        message_id = self._last_read.get(chat_id)
        if message_id is None:
            log.debug("no message to show typing on", session_id=self.context.session_id)
            return
        wa = self._require_client()
        try:
            await wa.indicate_typing(message_id)
        except WhatsAppError as exc:
            raise await self._graph_failure(exc) from None
        except httpx.HTTPError as exc:
            raise TransientSendError(
                f"graph unreachable: {type(exc).__name__}", code="graph_unreachable"
            ) from None

    def _require_client(self) -> WhatsApp:
        if self._wa is None:
            raise ConnectionGone("the session is not connected")
        return self._wa


def recipient_of(jid: Jid) -> str:
    """What the Graph API's ``to`` takes: phone digits.

    Cloud API groups have opaque ids (not the numeric ``@g.us`` ids wagate's
    destinations accept), so sending to a group is refused for now.
    """
    phone = phone_of(jid)
    if phone:
        return phone
    if is_group(jid):
        raise PermanentSendError(
            "sending to groups through the Cloud API is not supported yet",
            code="unsupported_by_transport",
        )
    if is_lid(jid):
        raise PermanentSendError(
            "the Cloud API cannot address an @lid; use the phone number",
            code="unsupported_by_transport",
        )
    raise PermanentSendError(f"{jid!r} is not a phone number", code="invalid_destination")


def section_list(menu: ListMenu) -> SectionList:
    """A list message's menu as pywa builds it."""
    return SectionList(
        button_title=menu.button,
        sections=[
            Section(
                title=section.title,
                rows=[
                    SectionRow(title=row.title, callback_data=row.id, description=row.description)
                    for row in section.rows
                ],
            )
            for section in menu.sections
        ],
    )


def contact_of(name: str, phone: str) -> Contact:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return Contact(
        name=Contact.Name(formatted_name=name, first_name=name),
        phones=[
            Contact.Phone(
                phone=f"+{digits}" if digits else phone, type="CELL", wa_id=digits or None
            )
        ],
    )
