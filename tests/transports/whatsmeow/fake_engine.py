"""A SessionEngine whose network edge is in memory: there are no WhatsApp servers in tests.

Only the ``_net_*`` methods are replaced. Events still go through neonize's
own machinery: a test posts a serialized neonize protobuf with its event code,
and it is handed to ``client.event.execute`` through a ctypes C callback, the
same entry point whatsmeow's Go code calls; QR codes and login statuses go
through the client's own C callbacks too. The host runs this class when
started with ``--session-factory tests.transports.whatsmeow.fake_engine:FakeEngine
--test-commands``.

Test commands (``WhatsmeowTransport.test_command``): ``event`` (code, data as
base64), ``qr`` (code), ``login_status`` (status), ``sent`` (what was
"transmitted", as base64 protobufs), ``abort`` (os.abort), ``go_panic`` (a
real Go nil-pointer panic inside neonize's library), ``set`` (fake behaviour:
``send_error``, ``connected``).
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import hashlib
import itertools
import json
import os
import time
from typing import Any

import neonize.aioze.events as aio_events
from neonize._binder import func_callback_bytes, func_string, gocode
from neonize.proto import Neonize_pb2 as neo
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message, PollVoteMessage
from neonize.utils.jid import build_jid

from wagate.transports.whatsmeow.build import Uploaded
from wagate.transports.whatsmeow.engine import SessionEngine

OWN_PHONE = "5511900000001"
SENT_TEXTS = "fake-sent-texts.jsonl"  # in the session's store dir
OWN_LID = "99887766554433"

_ids = itertools.count(1)


class FakeEngine(SessionEngine):
    sent: list[tuple[str, bytes]]

    async def _net_connect(self) -> asyncio.Task[Any]:
        aio_events.event_global_loop = asyncio.get_running_loop()
        self.sent = []
        self.uploads: list[bytes] = []
        self.send_error: str | None = None
        self.groups: dict[str, neo.GroupInfo] = {}  # groups made through this engine
        self._stopped = asyncio.Event()
        return asyncio.get_running_loop().create_task(self._stopped.wait())

    async def _net_stop(self) -> None:
        self._stopped.set()

    async def _net_logout(self) -> None:
        self.logged_out = True

    async def _net_me(self) -> neo.Device:
        return neo.Device(
            JID=build_jid(OWN_PHONE),
            LID=build_jid(OWN_LID, "lid"),
            Platform="android",
            BussinessName="",
            PushName="Gate Owner",
            Initialized=True,
        )

    async def _net_pair(self, phone: str) -> str:
        return "ABCD1234"

    async def _net_upload(self, data: bytes, kind: int) -> Uploaded:
        self.uploads.append(data)
        digest = hashlib.sha256(data).digest()
        return Uploaded(
            url=f"https://mmg.invalid/{digest.hex()[:16]}",
            direct_path=f"/v/t62/{digest.hex()[:16]}",
            media_key=hashlib.sha256(b"key" + data).digest(),
            file_enc_sha256=hashlib.sha256(b"enc" + data).digest(),
            file_sha256=digest,
            file_length=len(data),
        )

    async def _net_send(self, to: neo.JID, message: Message) -> tuple[str, int]:
        if self.send_error:
            raise RuntimeError(self.send_error)
        self.sent.append((f"{to.User}@{to.Server}", message.SerializeToString()))
        text = message.conversation or message.extendedTextMessage.text
        if text:  # for the contract driver, which reads it without a round trip
            with (self.store_dir / SENT_TEXTS).open("a") as log:
                log.write(json.dumps(text) + "\n")
        return f"3EB0FAKE{next(_ids):08d}", int(time.time())

    async def _net_decrypt_poll_vote(self, event: neo.Message) -> list[bytes]:
        """Votes in tests are not encrypted: the payload is the PollVoteMessage itself."""
        payload = event.Message.pollUpdateMessage.vote.encPayload
        return list(PollVoteMessage.FromString(payload).selectedOptions)

    async def _net_download(self, message: Message) -> bytes:
        return b"media-bytes-of-" + message.SerializeToString()[:8]

    async def _net_is_connected(self) -> bool:
        return True

    async def _net_chat_presence(self, to: neo.JID, state: Any) -> None:
        self.sent.append((f"{to.User}@{to.Server}", f"presence:{state.value}".encode()))

    async def _net_subscribe(self, to: neo.JID) -> None:
        self.sent.append((f"{to.User}@{to.Server}", b"subscribe"))

    async def _net_mark_read(self, chat: neo.JID, sender: neo.JID, ids: list[str]) -> None:
        self.sent.append((f"{chat.User}@{chat.Server}", ("read:" + ",".join(ids)).encode()))

    async def _net_is_on_whatsapp(self, phones: list[str]) -> list[neo.IsOnWhatsAppResponse]:
        answers = []
        for query in phones:
            digits = query.lstrip("+")
            on = not digits.startswith(("0", "999"))  # as the simulator's rule
            answers.append(
                neo.IsOnWhatsAppResponse(Query=query, JID=build_jid(digits if on else ""), IsIn=on)
            )
        return answers

    async def _net_create_group(self, subject: str, people: list[neo.JID]) -> neo.GroupInfo:
        jid = build_jid(f"120363{len(self.groups) + 500:011d}", "g.us")
        members = [neo.GroupParticipant(JID=build_jid(OWN_PHONE), IsSuperAdmin=True)]
        members += [neo.GroupParticipant(JID=p, PhoneNumber=p) for p in people]
        self.groups[f"{jid.User}@g.us"] = neo.GroupInfo(
            JID=jid,
            OwnerPN=build_jid(OWN_PHONE),
            GroupName=neo.GroupName(Name=subject),
            GroupCreated=1_767_614_400,
            Participants=members,
        )
        return self.groups[f"{jid.User}@g.us"]

    def _made_here(self, jid: neo.JID) -> neo.GroupInfo:
        info = self.groups.get(f"{jid.User}@{jid.Server}")
        if info is None:
            raise RuntimeError("item-not-found")
        return info

    async def _net_update_group(self, jid: neo.JID, action: Any) -> None:
        info = self._made_here(jid)
        if action.subject is not None:
            info.GroupName.Name = action.subject
        if action.description is not None:
            info.GroupTopic.Topic = action.description
        if action.announce is not None:
            info.GroupAnnounce.IsAnnounce = action.announce
        if action.locked is not None:
            info.GroupLocked.isLocked = action.locked

    async def _net_set_group_photo(self, jid: neo.JID, jpeg: bytes) -> None:
        self._made_here(jid)

    async def _net_update_participants(
        self, jid: neo.JID, people: list[neo.JID], action: str
    ) -> list[neo.GroupParticipant]:
        info = self._made_here(jid)
        answers = []
        for person in people:
            on = not person.User.startswith(("0", "999"))
            answers.append(neo.GroupParticipant(JID=person, Error=0 if on else 404))
            if on and action == "add":
                info.Participants.append(neo.GroupParticipant(JID=person, PhoneNumber=person))
        return answers

    async def _net_invite_link(self, jid: neo.JID, reset: bool) -> str:
        self._made_here(jid)
        return "https://chat.whatsapp.com/" + ("NEWCODE" if reset else "FIRSTCODE")

    async def _net_set_profile(self, name: str | None, about: str | None) -> None:
        if about is not None:
            self.about = about

    async def _net_set_profile_photo(self, jpeg: bytes) -> None:
        self.picture = "https://pps.whatsapp.net/fake/" + hashlib.sha256(jpeg).hexdigest()[:8]

    async def _net_profile_of(self, jid: neo.JID) -> tuple[str | None, str | None]:
        if jid.User == OWN_PHONE:
            return getattr(self, "about", None), getattr(self, "picture", None)
        return "Available", None

    async def _net_block(self, jid: neo.JID, blocked: bool) -> None:
        self.blocked = blocked

    async def _net_leave_group(self, jid: neo.JID) -> None:
        self.groups.pop(f"{jid.User}@{jid.Server}", None)

    async def _net_group_info(self, jid: neo.JID) -> neo.GroupInfo:
        if f"{jid.User}@{jid.Server}" in self.groups:
            return self.groups[f"{jid.User}@{jid.Server}"]
        if not jid.User.startswith("120363"):
            raise RuntimeError("item-not-found")
        empty = build_jid("", "")
        return neo.GroupInfo(
            JID=jid,
            OwnerJID=build_jid(OWN_LID, "lid"),
            OwnerPN=build_jid(OWN_PHONE),
            GroupName=neo.GroupName(Name="Family"),
            GroupTopic=neo.GroupTopic(Topic="Sunday lunch"),
            GroupAnnounce=neo.GroupAnnounce(IsAnnounce=False),
            GroupLocked=neo.GroupLocked(isLocked=True),
            GroupCreated=1_767_614_400,
            Participants=[
                neo.GroupParticipant(
                    JID=build_jid("123456789012345", "lid"),
                    LID=build_jid("123456789012345", "lid"),
                    PhoneNumber=build_jid("5511988887777"),
                    IsAdmin=False,
                    IsSuperAdmin=False,
                ),
                neo.GroupParticipant(
                    JID=build_jid(OWN_PHONE), LID=empty, PhoneNumber=empty, IsSuperAdmin=True
                ),
            ],
        )

    # ------------------------------------------------------------------ test commands

    async def test_command(self, command: str, args: dict[str, Any]) -> Any:
        uuid = self.session_id.encode()
        if command == "event":
            data = base64.b64decode(args["data"])
            buffer = ctypes.create_string_buffer(data, len(data))
            callback = func_callback_bytes(self.client.event.execute)
            callback(uuid, ctypes.addressof(buffer), len(data), int(args["code"]))
            return None
        if command == "qr":
            code = ctypes.create_string_buffer(str(args["code"]).encode())
            func_string(self.client._NewAClient__onQr)(uuid, ctypes.addressof(code))
            return None
        if command == "login_status":
            status = ctypes.create_string_buffer(str(args["status"]).encode())
            func_string(self.client._NewAClient__onLoginStatus)(uuid, ctypes.addressof(status))
            return None
        if command == "sent":
            return [[to, base64.b64encode(body).decode()] for to, body in self.sent]
        if command == "set":
            self.send_error = args.get("send_error")
            return None
        if command == "abort":
            os.abort()
        if command == "go_panic":
            # neonize looks the client up in a Go map and dereferences it unchecked
            jid = build_jid("1").SerializeToString()
            gocode.GetLIDFromPN(b"no-such-client", jid, len(jid))
        raise ValueError(f"unknown test command {command!r}")
