"""The transport contract's driver for ``whatsmeow``: real engine hosts running the fake
engine (WhatsApp's servers replaced), events injected as neonize protobufs."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
from neonize.proto import Neonize_pb2 as neo
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize.utils.jid import build_jid

from tests.api.helpers import create_session, wait_status
from tests.contract.drivers import CONTACT, Change, Driver
from tests.support.server import RunningServer
from tests.transports.whatsmeow.app_support import inject, transport_of, use_fake_engine
from tests.transports.whatsmeow.fake_engine import SENT_TEXTS
from tests.transports.whatsmeow.support import (
    direct,
    source,
)

RECEIPTS = {"delivered": neo.Receipt.DELIVERED, "read": neo.Receipt.READ}


class WhatsmeowDriver(Driver):
    transport = "whatsmeow"

    async def connect(self, server: RunningServer, client: httpx.AsyncClient) -> dict[str, Any]:
        use_fake_engine(server)
        session = await create_session(client, "contract", transport="whatsmeow")
        await inject(await transport_of(server, session["id"]), neo.Connected(status=True))
        await wait_status(client, session["id"], "connected")
        return dict((await client.get(f"/v1/sessions/{session['id']}")).json())

    async def inbound_text(
        self, server: RunningServer, session: dict[str, Any], wa_id: str, text: str
    ) -> None:
        transport = await transport_of(server, session["id"])
        await inject(transport, direct(e2e.Message(conversation=text), wa_id=wa_id))

    async def receipt(
        self, server: RunningServer, session: dict[str, Any], wa_id: str, status: str
    ) -> None:
        jid = f"{CONTACT}@s.whatsapp.net"
        event = neo.Receipt(
            MessageSource=source(jid, jid),
            MessageIDs=[wa_id],
            Timestamp=int(server.clock.now().timestamp()),
            Type=RECEIPTS[status],
        )
        await inject(await transport_of(server, session["id"]), event)

    async def someone_joins(
        self, server: RunningServer, session: dict[str, Any], group: str
    ) -> None:
        user, _, server_name = group.partition("@")
        notice = neo.GroupInfoEvent(
            JID=build_jid(user, server_name),
            Timestamp=int(server.clock.now().timestamp()),
            Join=[build_jid(CONTACT)],
            Notify="",
            PrevParticipantsVersionID="",
            ParticipantVersionID="",
            JoinReason="",
        )
        await inject(await transport_of(server, session["id"]), notice)

    async def vote(
        self, server: RunningServer, session: dict[str, Any], poll_wa_id: str, options: list[str]
    ) -> bool:
        """A pollUpdateMessage; the fake engine's "decryption" reads the vote as plain."""
        chosen = e2e.PollVoteMessage(
            selectedOptions=[hashlib.sha256(o.encode()).digest() for o in options]
        )
        update = e2e.PollUpdateMessage(
            pollCreationMessageKey=MessageKey(
                remoteJID=f"{CONTACT}@s.whatsapp.net", fromMe=True, ID=poll_wa_id
            ),
            vote=e2e.PollEncValue(encPayload=chosen.SerializeToString(), encIV=b"\0" * 12),
        )
        transport = await transport_of(server, session["id"])
        await inject(transport, direct(e2e.Message(pollUpdateMessage=update)))
        return True

    async def transmitted_changes(
        self, server: RunningServer, session: dict[str, Any]
    ) -> list[Change]:
        """Edits and revokes among the protobufs the fake engine "transmitted"."""
        transport = await transport_of(server, session["id"])
        changes: list[Change] = []
        for _, body in await transport.test_command("sent"):
            message = e2e.Message.FromString(base64.b64decode(body))
            edited = message.editedMessage.message.protocolMessage
            if edited.type == e2e.ProtocolMessage.MESSAGE_EDIT:
                assert edited.key.fromMe
                changes.append(("edit", edited.key.ID, edited.editedMessage.conversation))
            elif message.protocolMessage.type == e2e.ProtocolMessage.REVOKE and (
                message.HasField("protocolMessage")
            ):
                assert message.protocolMessage.key.fromMe
                changes.append(("revoke", message.protocolMessage.key.ID, None))
        return changes

    def transmitted_texts(self, server: RunningServer, session: dict[str, Any]) -> list[str]:
        supervisor = server.services.whatsmeow
        assert supervisor is not None
        path = supervisor.store_dir(session["id"]) / SENT_TEXTS
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]
