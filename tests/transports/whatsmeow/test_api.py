"""A whatsmeow session through the whole HTTP surface, on a real server and real engine hosts
(with WhatsApp's servers replaced by the fake engine): QR, connection, sending, inbound,
``POST /v1/sessions/{id}/contacts/check``."""

from __future__ import annotations

import os
import signal

import httpx
from neonize.proto import Neonize_pb2 as neo
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from tests.api.helpers import create_session, find_inbound, send, wait_sent, wait_status
from tests.support.server import RunningServer, eventually
from tests.transports.whatsmeow.app_support import inject, transport_of, use_fake_engine
from tests.transports.whatsmeow.support import CONTACT, direct
from wagate.transports.whatsmeow import WhatsmeowTransport


async def test_whatsmeow_session_end_to_end(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    use_fake_engine(server)
    session = await create_session(admin, "wm", transport="whatsmeow")
    transport = await transport_of(server, session["id"])

    await transport.test_command("qr", code="2@scan-me")
    await wait_status(admin, session["id"], "qr")
    qr = (await admin.get(f"/v1/sessions/{session['id']}/qr")).json()
    assert qr["qr"] == "2@scan-me"

    await inject(transport, neo.Connected(status=True))
    await wait_status(admin, session["id"], "connected")
    body = (await admin.get(f"/v1/sessions/{session['id']}")).json()
    assert body["phone"] == "5511900000001"

    check = await admin.post(
        f"/v1/sessions/{session['id']}/contacts/check",
        json=["+55 11 98888-7778", "+999 1234 5678", "not a number"],
    )
    assert check.status_code == 200, check.text
    assert check.json()["items"] == [
        {
            "input": "+55 11 98888-7778",
            "phone": "5511988887778",
            "on_whatsapp": True,
            "jid": "5511988887778@s.whatsapp.net",
        },
        {"input": "+999 1234 5678", "phone": "99912345678", "on_whatsapp": False, "jid": None},
        {
            "input": "not a number",
            "phone": None,
            "on_whatsapp": False,
            "jid": None,
            "error": "invalid_phone",
        },
    ]

    message = await send(admin, session["id"], to=CONTACT, text="hello from the API")
    sent = await wait_sent(admin, message["id"])
    assert sent["wa_message_id"].startswith("3EB0FAKE")

    await inject(transport, direct(e2e.Message(conversation="hi back"), wa_id="3A0INBOUND"))
    inbound = await find_inbound(admin, session["id"], "3A0INBOUND")
    assert (inbound["text"], inbound["chat_id"]) == ("hi back", f"{CONTACT}@s.whatsapp.net")


async def test_contacts_check_needs_a_transport_that_can_ask(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await create_session(
        admin,
        "evo",
        transport="evolution",
        config={"base_url": "http://127.0.0.1:9", "api_key": "k"},
        start=False,
    )  # Evolution's API is not asked about numbers: refused before anything is sent
    response = await admin.post(f"/v1/sessions/{session['id']}/contacts/check", json=[CONTACT])
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unsupported_by_transport"
    empty = await admin.post(f"/v1/sessions/{session['id']}/contacts/check", json=[])
    assert empty.status_code == 422


async def test_a_killed_engine_host_is_replaced_and_the_session_comes_back(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    use_fake_engine(server)
    session = await create_session(admin, "wm", transport="whatsmeow")
    transport = await transport_of(server, session["id"])
    await inject(transport, neo.Connected(status=True))
    await wait_status(admin, session["id"], "connected")
    assert transport.host is not None
    old_pid = transport.host.pid

    os.kill(old_pid, signal.SIGKILL)
    await wait_status(admin, session["id"], "reconnecting")  # code 500: with backoff

    async def reopened() -> WhatsmeowTransport | None:
        await server.advance(1.0)  # the runtime's reconnect backoff, then the host restart's
        runtime = server.services.manager.runtime(session["id"])
        current = runtime.transport if runtime else None
        if isinstance(current, WhatsmeowTransport) and current.host is not None:
            return current if current.host.pid != old_pid else None
        return None

    fresh: WhatsmeowTransport = await eventually(reopened, timeout=20)
    await inject(fresh, neo.Connected(status=True))
    await wait_status(admin, session["id"], "connected")
    message = await send(admin, session["id"], to=CONTACT, text="after the crash")
    assert (await wait_sent(admin, message["id"]))["wa_message_id"].startswith("3EB0FAKE")
