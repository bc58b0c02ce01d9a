"""A transport that cannot choose message ids: a message left mid-send is not resent blindly."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import httpx
from sqlalchemy import update

from tests.api.helpers import connected_session, send, wait_message
from tests.support.server import RunningServer
from wagate.store.models import Message
from wagate.transports import Capabilities, TransportContext
from wagate.transports.simulator import SimulatorTransport


async def test_message_found_sending_fails_as_outcome_unknown(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    network = server.network

    class PicksItsOwnIds(SimulatorTransport):
        capabilities: ClassVar[Capabilities] = dataclasses.replace(
            SimulatorTransport.capabilities, choose_message_id=False
        )

    def factory(context: TransportContext) -> Any:
        return PicksItsOwnIds(context, network)

    server.services.registry.register("simulator", factory, PicksItsOwnIds.capabilities)
    session = await connected_session(server, admin)
    sid = session["id"]
    await admin.post(f"/v1/sessions/{sid}/stop")
    message = await send(admin, sid, to="5511988887777", text="was it sent?")
    async with server.services.db.transaction() as tx:  # as if the process died mid-send
        await tx.execute(
            update(Message)
            .where(Message.id == message["id"])
            .values(status="sending", attempts=1, wa_message_id="3EB0KNOWN")
        )
    fresh = await send(admin, sid, to="5511988887777", text="a new one goes out")
    await admin.post(f"/v1/sessions/{sid}/start")
    failed = await wait_message(admin, message["id"], "failed")
    assert failed["error"]["code"] == "send_outcome_unknown"
    await wait_message(admin, fresh["id"], "sent")
    assert [r.message_id for r in network.sent(sid)] == [fresh["id"]]
