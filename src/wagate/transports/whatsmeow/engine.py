"""One whatsmeow session inside an engine host: neonize's async client and its events.

Runs only in the engine host process. Every call that reaches the network
goes through one of the small ``_net_*`` methods, so a test engine can replace
the network (there is no WhatsApp server in tests) while neonize's own event
machinery, the normalizer and the builder stay real.

The device store is ``<data dir>/whatsmeow/<session id>/device.db``: the
directory is 0700 and its files 0600 (the host runs with umask 077), and its
path is never logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import logging
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neonize._binder import ProxySettings
from neonize.aioze.client import NewAClient
from neonize.aioze.events import (
    CallOfferEv,
    ChatPresenceEv,
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    GroupInfoEv,
    JoinedGroupEv,
    KeepAliveRestoredEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    PresenceEv,
    ReceiptEv,
    StreamErrorEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.events import UndecryptableMessageEv
from neonize.proto import Neonize_pb2 as neo
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message
from neonize.utils.enum import (
    BlocklistAction,
    ChatPresence,
    ChatPresenceMedia,
    MediaType,
    ParticipantChange,
    Presence,
    ReceiptType,
)

from wagate.domain import (
    Conflict,
    Connected,
    ConnectionGone,
    CredentialsUpdated,
    Disconnected,
    IdentityLearned,
    InboundMedia,
    InboundMessage,
    InvalidRequest,
    MessageEdit,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    MessageType,
    NotWaitingForScan,
    OutgoingMessage,
    PairingCodeIssued,
    PermanentSendError,
    PresenceState,
    TransientSendError,
    TransportError,
    TransportEvent,
    Unparseable,
    WagateError,
    normalize_phone,
    phone_jid,
    phone_of,
)
from wagate.domain.groups import (
    GROUP_ACTION,
    ChangeParticipants,
    CreateGroup,
    GroupChanged,
    InviteLink,
    LeaveGroup,
    SetGroupPicture,
    UpdateGroup,
)
from wagate.domain.groups import GroupInfo as GroupInfoAction
from wagate.domain.profiles import (
    PROFILE_ACTION,
    Block,
    ContactProfile,
    SetProfilePicture,
    UpdateProfile,
)
from wagate.transports.audio import AudioConversionError, to_ogg_opus
from wagate.transports.whatsmeow import normalize as norm
from wagate.transports.whatsmeow.build import (
    UPLOAD_KIND,
    BuildError,
    KnownMessage,
    Uploaded,
    build_media,
    build_non_media,
    parse_jid,
)
from wagate.transports.whatsmeow.protocol import RawQr

log = logging.getLogger("wagate.whatsmeow.engine")

Emit = Callable[[TransportEvent | RawQr], Awaitable[None]]
KNOWN_MESSAGES = 512  # per session, for the quote of a reply and the key of a reaction
PAIRING_WAIT_S = 30.0  # how long a pairing request waits for the login socket


class _Client(NewAClient):  # type: ignore[misc]  # neonize ships no type information
    """neonize's client, with the login-status callback it otherwise drops."""

    on_login_status: Callable[[str], None] | None = None

    def _NewAClient__onLoginStatus(self, uuid: int, status: int) -> None:
        # Called from a Go thread with the C string of whatsmeow's QR-channel event.
        if self.on_login_status is not None and status:
            self.on_login_status(ctypes.string_at(status).decode(errors="replace"))


def secure_dir(path: Path) -> None:
    """Create ``path`` as 0700 and tighten anything already in it to 0600."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    for child in path.iterdir():
        if child.is_file():
            os.chmod(child, 0o600)


class SessionEngine:
    """A session's whatsmeow client: opens, reports normalized events, sends."""

    def __init__(
        self,
        session_id: str,
        store_dir: Path,
        emit: Emit,
        *,
        proxy_url: str | None = None,
        max_media_bytes: int = 64 * 1024 * 1024,
        known_jid: str | None = None,
    ) -> None:
        self.session_id = session_id
        self.store_dir = store_dir
        self.emit = emit
        self.proxy_url = proxy_url
        self.max_media_bytes = max_media_bytes
        self.known_jid = known_jid
        self.own = norm.Own()
        self.push_name: str | None = None  # the account's profile name, as last seen
        self.loop = asyncio.get_running_loop()
        self.client = _Client(str(store_dir / "device.db"), uuid=session_id)
        self.client.on_login_status = self._login_status_threadsafe
        self.connect_task: asyncio.Task[Any] | None = None
        self.qr_count = 0
        self.login_socket = asyncio.Event()  # set once whatsmeow shows a QR (socket is up)
        self.connected = False
        self.keepalive_failing = False
        self.closed = False
        self.known: OrderedDict[str, KnownMessage] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._order = asyncio.Lock()
        self._register()

    # ------------------------------------------------------------------ lifecycle

    async def open(self, fresh: bool) -> None:
        """Start connecting; outcomes arrive as events. ``fresh`` wipes the device store."""
        if fresh and self.store_dir.exists():
            shutil.rmtree(self.store_dir, ignore_errors=True)
        secure_dir(self.store_dir)
        self.connect_task = await self._net_connect()
        self.connect_task.add_done_callback(self._connect_ended)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self._net_stop()
        except Exception as exc:  # the session is going away either way
            log.warning("stopping the client failed: %s", exc)
        if self.connect_task is not None:
            with contextlib.suppress(Exception):  # ended, failed, or still stuck in Go
                await asyncio.wait_for(asyncio.shield(self.connect_task), 10)
        for task in list(self._tasks):
            task.cancel()
        if self.store_dir.exists():
            secure_dir(self.store_dir)

    async def logout(self) -> None:
        """Unlink this device from the phone (when linked), stop, wipe the device store."""
        if self.connected:
            try:
                await self._net_logout()
            except Exception as exc:  # unlinking is best effort; the store goes anyway
                log.warning("logout request failed: %s", exc)
        await self.close()
        shutil.rmtree(self.store_dir, ignore_errors=True)

    def _connect_ended(self, task: asyncio.Task[Any]) -> None:
        """whatsmeow's connect call returned: after close, or because it could not connect."""
        if self.closed or task.cancelled():
            return
        exc = task.exception()
        self.connected = False
        reason = f"could not connect: {exc}" if exc else "the engine's connection loop ended"
        self._spawn(self._report(Disconnected(408, reason)))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report(self, event: TransportEvent | RawQr) -> None:
        if not self.closed:
            await self.emit(event)

    # ------------------------------------------------------------------ network edge

    async def _net_connect(self) -> asyncio.Task[Any]:
        proxy = ProxySettings(proxy_address=self.proxy_url) if self.proxy_url else None
        task: asyncio.Task[Any] = await self.client.connect(proxy)
        return task

    async def _net_stop(self) -> None:
        await self.client.stop()

    async def _net_logout(self) -> None:
        await self.client.logout()

    async def _net_me(self) -> neo.Device:
        return await self.client.get_me()

    async def _net_pair(self, phone: str) -> str:
        code: str = await self.client.PairPhone(phone, True)
        return code

    async def _net_upload(self, data: bytes, kind: int) -> Uploaded:
        response = await self.client.upload(data, MediaType(kind))
        return Uploaded(
            url=response.url,
            direct_path=response.DirectPath,
            media_key=response.MediaKey,
            file_enc_sha256=response.FileEncSHA256,
            file_sha256=response.FileSHA256,
            file_length=response.FileLength,
        )

    async def _net_send(self, to: neo.JID, message: Message) -> tuple[str, int]:
        response = await self.client.send_message(to, message)
        return response.ID, response.Timestamp

    async def _net_decrypt_poll_vote(self, event: neo.Message) -> list[bytes]:
        """The SHA-256 of each option a vote chose (whatsmeow decrypts it with the secret
        it kept when our poll was sent)."""
        vote = await self.client.decrypt_poll_vote(event)
        return list(vote.selectedOptions)

    async def _net_download(self, message: Message) -> bytes:
        data: bytes = await self.client.download_any(message)
        return data

    async def _net_is_connected(self) -> bool:
        return bool(await self.client.is_connected)

    async def _net_chat_presence(self, to: neo.JID, state: PresenceState) -> None:
        if state in (PresenceState.AVAILABLE, PresenceState.UNAVAILABLE):
            presence = (
                Presence.AVAILABLE if state is PresenceState.AVAILABLE else Presence.UNAVAILABLE
            )
            await self.client.send_presence(presence)
            return
        chat_state = (
            ChatPresence.CHAT_PRESENCE_PAUSED
            if state is PresenceState.PAUSED
            else ChatPresence.CHAT_PRESENCE_COMPOSING
        )
        media = (
            ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO
            if state is PresenceState.RECORDING
            else ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT
        )
        await self.client.send_chat_presence(to, chat_state, media)

    async def _net_subscribe(self, to: neo.JID) -> None:
        await self.client.subscribe_presence(to)

    async def _net_mark_read(self, chat: neo.JID, sender: neo.JID, ids: list[str]) -> None:
        await self.client.mark_read(*ids, chat=chat, sender=sender, receipt=ReceiptType.READ)

    async def _net_is_on_whatsapp(self, phones: list[str]) -> list[neo.IsOnWhatsAppResponse]:
        return list(await self.client.is_on_whatsapp(*phones))

    async def _net_group_info(self, jid: neo.JID) -> neo.GroupInfo:
        return await self.client.get_group_info(jid)

    async def _net_create_group(self, subject: str, people: list[neo.JID]) -> neo.GroupInfo:
        return await self.client.create_group(subject, people)

    async def _net_update_group(self, jid: neo.JID, action: UpdateGroup) -> None:
        if action.subject is not None:
            await self.client.set_group_name(jid, action.subject)
        if action.description is not None:
            await self.client.set_group_topic(jid, "", "", action.description)
        if action.announce is not None:
            await self.client.set_group_announce(jid, action.announce)
        if action.locked is not None:
            await self.client.set_group_locked(jid, action.locked)

    async def _net_set_group_photo(self, jid: neo.JID, jpeg: bytes) -> None:
        await self.client.set_group_photo(jid, jpeg)

    async def _net_update_participants(
        self, jid: neo.JID, people: list[neo.JID], action: str
    ) -> list[neo.GroupParticipant]:
        change = ParticipantChange(action)
        return list(await self.client.update_group_participants(jid, people, change))

    async def _net_invite_link(self, jid: neo.JID, reset: bool) -> str:
        return str(await self.client.get_group_invite_link(jid, revoke=reset))

    async def _net_leave_group(self, jid: neo.JID) -> None:
        await self.client.leave_group(jid)

    async def _net_set_profile(self, name: str | None, about: str | None) -> None:
        if name is not None:
            await self.client.set_profile_name(name)
        if about is not None:
            await self.client.set_status_message(about)

    async def _net_set_profile_photo(self, jpeg: bytes) -> None:
        await self.client.set_profile_photo(jpeg)

    async def _net_profile_of(self, jid: neo.JID) -> tuple[str | None, str | None]:
        """(about, picture URL) of an account, as far as its privacy lets us see."""
        about = None
        for info in await self.client.get_user_info(jid):
            about = info.UserInfo.Status or None
        try:
            picture = await self.client.get_profile_picture(jid)
            url = picture.URL or None
        except Exception:  # no picture, or hidden from us
            url = None
        return about, url

    async def _net_block(self, jid: neo.JID, blocked: bool) -> None:
        action = BlocklistAction.BLOCK if blocked else BlocklistAction.UNBLOCK
        await self.client.update_blocklist(jid, action)

    # ------------------------------------------------------------------ requests

    def _require_connected(self) -> None:
        if not self.connected:
            raise ConnectionGone("the session is not connected to WhatsApp")

    async def keepalive(self) -> None:
        self._require_connected()
        if self.keepalive_failing or not await self._net_is_connected():
            raise ConnectionGone("whatsmeow reports the connection down")

    async def request_pairing_code(self, phone: str) -> str:
        digits = normalize_phone(phone)
        if self.connected:
            raise Conflict("the session is already logged in", code="already_logged_in")
        try:
            await asyncio.wait_for(self.login_socket.wait(), PAIRING_WAIT_S)
        except TimeoutError:
            raise NotWaitingForScan("the session is not waiting for a login yet") from None
        try:
            code = await self._net_pair(digits)
        except Exception as exc:
            raise InvalidRequest(
                f"WhatsApp refused the pairing code: {exc}", code="pairing_failed"
            ) from None
        pretty = code if "-" in code or len(code) != 8 else f"{code[:4]}-{code[4:]}"
        await self._report(PairingCodeIssued(code=pretty, phone=digits))
        return pretty

    async def send(self, msg: OutgoingMessage) -> tuple[str, int]:
        self._require_connected()
        try:
            to = parse_jid(msg.to)
            quoted = self.known.get(msg.reply_to) if msg.reply_to else None
            if msg.type in UPLOAD_KIND:
                message = await self._media_message(msg, quoted)
            else:
                target = self.known.get(msg.reaction.message_id) if msg.reaction else None
                message = build_non_media(
                    msg,
                    quoted=quoted,
                    target=target,
                    now_ms=int(time.time() * 1000),
                    secret=os.urandom(32),
                )
        except BuildError as exc:
            raise PermanentSendError(str(exc), code="invalid_message") from None
        try:
            wa_id, timestamp = await self._net_send(to, message)
        except Exception as exc:
            raise _send_error(exc) from None
        self._remember(wa_id, KnownMessage(sender=None, from_me=True, message=message))
        return wa_id, timestamp

    async def _media_message(self, msg: OutgoingMessage, quoted: KnownMessage | None) -> Message:
        if msg.media is None:
            raise BuildError(f"a {msg.type.value} message needs media")
        data, mime, seconds = msg.media.data, msg.media.mime_type, None
        if msg.type is MessageType.VOICE:
            try:
                converted = await to_ogg_opus(data)
            except AudioConversionError as exc:
                raise PermanentSendError(str(exc), code="audio_conversion_failed") from None
            data, mime, seconds = converted.data, converted.mime_type, converted.seconds
        try:
            uploaded = await self._net_upload(data, UPLOAD_KIND[msg.type])
        except Exception as exc:
            raise _send_error(exc, during="upload") from None
        return build_media(
            msg, uploaded, mime_type=mime, seconds=seconds, now_s=int(time.time()), quoted=quoted
        )

    async def send_presence(self, chat: str, state: PresenceState) -> None:
        self._require_connected()
        await self._net_chat_presence(parse_jid(chat), state)

    async def subscribe_presence(self, chat: str) -> None:
        self._require_connected()
        await self._net_subscribe(parse_jid(chat))

    async def mark_read(self, chat: str, ids: list[str], sender: str | None) -> None:
        self._require_connected()
        await self._net_mark_read(parse_jid(chat), parse_jid(sender or chat), ids)

    async def check_numbers(self, phones: list[str]) -> list[dict[str, Any]]:
        self._require_connected()
        queries = ["+" + normalize_phone(p) for p in phones]
        try:
            answers = await self._net_is_on_whatsapp(queries)
        except Exception as exc:
            raise TransportError(f"WhatsApp did not answer the lookup: {exc}") from None
        by_query = {a.Query.lstrip("+"): a for a in answers}
        results = []
        for query in queries:
            digits = query.lstrip("+")
            answer = by_query.get(digits)
            jid = norm.jid_str(answer.JID) if answer is not None else None
            results.append(
                {"phone": digits, "on_whatsapp": bool(answer and answer.IsIn), "jid": jid}
            )
        return results

    async def group_info(self, jid: str) -> dict[str, Any]:
        self._require_connected()
        try:
            info = await self._net_group_info(parse_jid(jid))
        except Exception as exc:
            raise TransportError(f"WhatsApp did not give the group's info: {exc}") from None
        return await self._group_json(info, jid)

    async def manage_group(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create or change a group (:mod:`wagate.domain.groups`); WhatsApp's notices of
        the change arrive afterwards as group events."""
        self._require_connected()
        action = GROUP_ACTION.validate_python(data)
        if isinstance(action, GroupInfoAction):
            return await self.group_info(action.group)
        try:
            if isinstance(action, CreateGroup):
                people = [parse_jid(p) for p in action.participants]
                info = await self._net_create_group(action.subject, people)
                return await self._group_json(info, "")
            group = parse_jid(action.group)
            match action:
                case UpdateGroup():
                    await self._net_update_group(group, action)
                case SetGroupPicture():
                    await self._net_set_group_photo(group, base64.b64decode(action.jpeg_base64))
                case ChangeParticipants():
                    changed = await self._net_update_participants(
                        group, [parse_jid(p) for p in action.participants], action.action
                    )
                    return {"items": norm.participant_results(action.participants, changed)}
                case InviteLink():
                    return {"link": await self._net_invite_link(group, action.reset)}
                case LeaveGroup():
                    await self._net_leave_group(group)
                    return {}
        except Exception as exc:
            raise norm.group_error(exc) from None
        return await self.group_info(action.group)

    async def manage_profile(self, data: dict[str, Any]) -> dict[str, Any]:
        """The session's profile, a contact's profile, or a block (see
        :mod:`wagate.domain.profiles`)."""
        self._require_connected()
        action = PROFILE_ACTION.validate_python(data)
        try:
            match action:
                case UpdateProfile():
                    await self._net_set_profile(action.name, action.about)
                case SetProfilePicture():
                    await self._net_set_profile_photo(base64.b64decode(action.jpeg_base64))
                case ContactProfile():
                    about, url = await self._net_profile_of(parse_jid(action.jid))
                    return {"jid": action.jid, "about": about, "picture_url": url}
                case Block():
                    await self._net_block(parse_jid(action.jid), action.blocked)
                    return {"jid": action.jid, "blocked": action.blocked}
            own = phone_jid(self.own.phone) if self.own.phone else None
            if own is None:
                raise ConnectionGone("the session does not know its own number yet")
            about, url = await self._net_profile_of(parse_jid(own))
        except WagateError:
            raise
        except Exception as exc:
            raise TransportError(f"WhatsApp refused the profile request: {exc}") from None
        if isinstance(action, UpdateProfile) and action.name:
            self.push_name = action.name
        return {
            "jid": own,
            "phone": self.own.phone,
            "name": self.push_name,
            "about": about,
            "picture_url": url,
        }

    async def _group_json(self, info: neo.GroupInfo, jid: str) -> dict[str, Any]:
        participants = []
        for p in info.Participants:
            person = norm.person_of(p.PhoneNumber, p.LID, p.JID)
            participants.append(
                {
                    "jid": person.jid if person else norm.jid_str(p.JID),
                    "phone": person.phone if person else None,
                    "lid": person.lid if person else None,
                    "admin": bool(p.IsAdmin or p.IsSuperAdmin),
                    "super_admin": bool(p.IsSuperAdmin),
                }
            )
            if person and person.phone and person.lid:
                await self._report(IdentityLearned(phone=person.phone, lid=person.lid))
        return {
            "jid": norm.jid_str(info.JID) or jid,
            "subject": info.GroupName.Name or None,
            "description": info.GroupTopic.Topic or None,
            "name": info.GroupName.Name or None,
            "topic": info.GroupTopic.Topic or None,
            "owner": norm.jid_str(info.OwnerPN) or norm.jid_str(info.OwnerJID),
            # a 32-bit float in neonize's protobuf: right to about a minute
            "created_at": int(info.GroupCreated) or None,
            "announce": bool(info.GroupAnnounce.IsAnnounce),
            "locked": bool(info.GroupLocked.isLocked),
            "participants": participants,
        }

    def _remember(self, wa_id: str, known: KnownMessage) -> None:
        self.known[wa_id] = known
        self.known.move_to_end(wa_id)
        while len(self.known) > KNOWN_MESSAGES:
            self.known.popitem(last=False)

    # ------------------------------------------------------------------ events

    def _register(self) -> None:
        on = self.client.event
        self.client.qr(self._in_order(self._on_qr))
        handlers: list[tuple[Any, Callable[[Any, Any], Awaitable[None]]]] = [
            (ConnectedEv, self._on_connected),
            (PairStatusEv, self._on_pair_status),
            (LoggedOutEv, self._on_logged_out),
            (StreamReplacedEv, self._on_simple(norm.STREAM_REPLACED)),
            (TemporaryBanEv, self._on_disconnect(norm.temporary_ban)),
            (ConnectFailureEv, self._on_disconnect(norm.connect_failure)),
            (ClientOutdatedEv, self._on_simple(norm.CLIENT_OUTDATED)),
            (StreamErrorEv, self._on_disconnect(norm.stream_error)),
            (DisconnectedEv, self._on_simple(norm.CONNECTION_CLOSED)),
            (KeepAliveTimeoutEv, self._on_keepalive(failing=True)),
            (KeepAliveRestoredEv, self._on_keepalive(failing=False)),
            (MessageEv, self._on_message),
            (GroupInfoEv, self._on_group),
            (JoinedGroupEv, self._on_joined_group),
            (ReceiptEv, self._on_other(norm.normalize_receipt)),
            (ChatPresenceEv, self._on_other(norm.normalize_chat_presence)),
            (PresenceEv, self._on_other(norm.normalize_presence)),
            (CallOfferEv, self._on_other(norm.normalize_call)),
            (UndecryptableMessageEv, self._on_other(norm.normalize_undecryptable)),
        ]
        for event_type, handler in handlers:
            on(event_type)(self._in_order(handler))

    def _in_order(
        self, handler: Callable[[Any, Any], Awaitable[None]]
    ) -> Callable[[Any, Any], Awaitable[None]]:
        """neonize runs each event's handler as its own task, so a message that waits for
        its media could be overtaken by the next event (its own revoke, say). The tasks
        start in arrival order and take this FIFO lock first, which keeps that order."""

        async def run(client: Any, event: Any) -> None:
            async with self._order:
                await handler(client, event)

        return run

    async def _on_qr(self, _: Any, code: bytes) -> None:
        self.login_socket.set()
        index, self.qr_count = self.qr_count, self.qr_count + 1
        await self._report(RawQr(code=code.decode(), index=index))

    def _login_status_threadsafe(self, status: str) -> None:
        self.loop.call_soon_threadsafe(self._login_status, status)

    def _login_status(self, status: str) -> None:
        """whatsmeow's QR channel ended: ``success``, ``timeout`` or an ``err-...``."""
        self.login_socket.clear()
        if status == "timeout":
            self._spawn(self._report(Disconnected(408, "qr_timeout")))
        elif status.startswith("err"):
            self._spawn(self._report(Disconnected(500, f"login failed: {status}")))

    async def _on_connected(self, _: Any, __: Any) -> None:
        self.connected = True
        self.keepalive_failing = False
        self.login_socket.clear()
        try:
            me = await self._net_me()
        except Exception as exc:
            log.warning("could not read the account's own JID: %s", exc)
            me = None
        jid = norm.jid_str(me.JID) if me is not None else None
        lid = norm.jid_str(me.LID) if me is not None and me.HasField("LID") else None
        phone = phone_of(jid)
        self.own = norm.Own(phone=phone, lid=lid)
        if jid and jid != self.known_jid:
            self.known_jid = jid
            await self._report(CredentialsUpdated({"jid": jid, "lid": lid}))
        push_name = (me.PushName or None) if me is not None else None
        self.push_name = push_name
        await self._report(Connected(phone=phone, push_name=push_name, lid=lid))

    async def _on_pair_status(self, _: Any, event: neo.PairStatus) -> None:
        if event.Status == neo.PairStatus.ERROR:
            await self._report(Disconnected(500, f"pairing failed: {event.Error or 'unknown'}"))

    async def _on_logged_out(self, _: Any, event: neo.LoggedOut) -> None:
        self.connected = False
        await self._report(CredentialsUpdated(None))
        await self._report(norm.logged_out(event))

    def _on_simple(self, event: Disconnected) -> Callable[[Any, Any], Awaitable[None]]:
        async def handler(_: Any, __: Any) -> None:
            self.connected = False
            await self._report(event)

        return handler

    def _on_disconnect(
        self, convert: Callable[[Any], Disconnected]
    ) -> Callable[[Any, Any], Awaitable[None]]:
        async def handler(_: Any, event: Any) -> None:
            self.connected = False
            await self._report(convert(event))

        return handler

    def _on_keepalive(self, *, failing: bool) -> Callable[[Any, Any], Awaitable[None]]:
        async def handler(_: Any, __: Any) -> None:
            self.keepalive_failing = failing

        return handler

    def _on_other(
        self, convert: Callable[[Any], TransportEvent | None]
    ) -> Callable[[Any, Any], Awaitable[None]]:
        async def handler(_: Any, event: Any) -> None:
            try:
                normalized = convert(event)
                identity = _identity(event)
            except Exception as exc:  # a shape we do not know must not kill the session
                await self._report(_unparseable(event, exc))
                return
            if identity is not None:
                await self._report(identity)
            if normalized is not None:
                await self._report(normalized)

        return handler

    async def _on_message(self, _: Any, event: neo.Message) -> None:
        if norm.unwrap(event.Message).HasField("pollUpdateMessage"):
            await self._on_poll_vote(event)
            return
        try:
            normalized = norm.normalize_message(event, self.own)
            identity = norm.identity_of(event.Info.MessageSource, event.Info.Pushname or None)
        except Exception as exc:
            await self._report(_unparseable(event, exc))
            return
        if identity is not None:
            await self._report(identity)
        if normalized is None:
            return
        if isinstance(normalized, InboundMessage):
            source = event.Info.MessageSource
            self._remember(
                normalized.wa_message_id,
                KnownMessage(
                    sender=norm.jid_str(source.Sender),
                    from_me=source.IsFromMe,
                    message=event.Message,
                ),
            )
            media = await self._download(normalized, event.Message)
            await self._report(MessageReceived(normalized, media))
        elif isinstance(normalized, MessageEdit):
            await self._report(MessageEdited(normalized))
        else:
            await self._report(MessageRevoked(normalized))

    async def _on_group(self, _: Any, event: neo.GroupInfoEvent) -> None:
        try:
            changes = norm.group_changes(event)
        except Exception as exc:
            await self._report(_unparseable(event, exc))
            return
        for change in changes:
            await self._report(change)

    async def _on_joined_group(self, _: Any, event: neo.JoinedGroup) -> None:
        """Someone added this session to a group (or it joined by a link)."""
        own = phone_jid(self.own.phone) if self.own.phone else None
        group = norm.jid_str(event.GroupInfo.JID)
        if own is None or group is None:
            return
        by = norm.jid_str(event.SenderPN) or norm.jid_str(event.Sender) or None
        when = datetime.now(UTC)
        await self._report(GroupChanged(group, "joined", when, (own,), by))

    async def _on_poll_vote(self, event: neo.Message) -> None:
        try:
            selected = await self._net_decrypt_poll_vote(event)
            vote = norm.poll_vote(event, self.own, selected)
        except Exception as exc:  # not our poll, or its secret is gone
            await self._report(_unparseable(event, exc))
            return
        await self._report(vote)

    async def _download(self, message: InboundMessage, content: Message) -> InboundMedia | None:
        """Fetch an attachment's bytes now: WhatsApp's media URLs expire."""
        if message.media is None:
            return None
        size = message.media.size or 0
        if size > self.max_media_bytes:
            log.warning("inbound media of %d bytes is over the limit; not downloaded", size)
            return None
        try:
            data = await self._net_download(norm.unwrap(content))
        except Exception as exc:
            log.warning("inbound media download failed: %s", exc)
            return None
        return InboundMedia(
            data=data,
            mime_type=message.media.mime_type or "application/octet-stream",
            file_name=message.media.file_name,
        )


def _identity(event: Any) -> IdentityLearned | None:
    source = getattr(event, "MessageSource", None)
    return norm.identity_of(source) if source is not None else None


def _unparseable(event: Any, exc: Exception) -> Unparseable:
    return Unparseable(
        source="whatsmeow",
        reason=f"{type(event).__name__}: {exc}",
        payload={"event": type(event).__name__},
    )


_NOT_CONNECTED = ("not connected", "websocket not connected", "no media connection")


def _send_error(exc: Exception, during: str = "send") -> TransportError:
    """whatsmeow's error text -> wagate's send error (transient unless clearly permanent)."""
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, TransportError):
        return exc
    if any(marker in lowered for marker in _NOT_CONNECTED):
        return ConnectionGone(f"{during} failed: {text}")
    if "invalid" in lowered and "jid" in lowered:
        return PermanentSendError(f"{during} failed: {text}", code="invalid_destination")
    return TransientSendError(f"{during} failed: {text}")
