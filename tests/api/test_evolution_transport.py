"""An evolution session end to end: a fake Evolution server on loopback is the engine.

The session logs in by QR (``/instance/connect``), connects when the fake
reports ``open``, sends every outbound type through the API, and gets its
statuses from ``messages.update`` webhooks posted to its ingest URL.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import create_session, send, wait_sent, wait_status
from tests.support.server import RunningServer, eventually
from tests.transports.evolution.fake import API_KEY, OWNER, FakeEvolution, running_fake
from wagate.store.repositories import sessions

PAYLOADS = Path(__file__).parents[1] / "transports" / "evolution" / "payloads"
CONTACT = "5511988887777"


@pytest.fixture
async def fake() -> AsyncIterator[FakeEvolution]:
    async with running_fake() as running:
        yield running


async def login(
    server: RunningServer, admin: httpx.AsyncClient, fake: FakeEvolution
) -> dict[str, Any]:
    """Create the session, check its QR, "scan" it and wait until it is connected."""
    session = await create_session(
        admin,
        "sales",
        transport="evolution",
        config={"base_url": fake.base_url, "api_key": API_KEY},
    )
    await wait_status(admin, session["id"], "qr")
    qr = (await admin.get(f"/v1/sessions/{session['id']}/qr")).json()
    assert qr["qr"] == "2@fakeqr1,key=,adv=,1"
    assert qr["image"].startswith("data:image/png;base64,")
    fake.scan()

    async def connected() -> dict[str, Any]:
        await server.advance(5)
        body = dict((await admin.get(f"/v1/sessions/{session['id']}")).json())
        assert body["status"] == "connected", body["status"]
        return body

    result: dict[str, Any] = await eventually(connected)
    return result


def receipt(wa_id: str, status: Any) -> dict[str, Any]:
    payload = dict(json.loads((PAYLOADS / "receipt_delivered_v2.json").read_text()))
    payload["data"] = payload["data"] | {"keyId": wa_id, "status": status}
    return payload


async def test_qr_login_connects_with_the_phone(
    server: RunningServer, admin: httpx.AsyncClient, fake: FakeEvolution
) -> None:
    session = await login(server, admin, fake)
    assert session["phone"] == OWNER
    assert session["push_name"] == "Sales Team"
    assert all(r.headers["apikey"] == API_KEY for r in fake.requests)


MEDIA = {"base64": base64.b64encode(b"\xff\xd8 jpeg bytes").decode(), "mime_type": "image/jpeg"}
SENDS: list[tuple[dict[str, Any], str]] = [
    ({"type": "text", "text": "hello"}, "sendText"),
    ({"type": "image", "media": {**MEDIA, "caption": "look"}}, "sendMedia"),
    ({"type": "video", "media": {"base64": "AAAA", "mime_type": "video/mp4"}}, "sendMedia"),
    ({"type": "audio", "media": {"base64": "AAAA", "mime_type": "audio/mpeg"}}, "sendMedia"),
    ({"type": "voice", "media": {"base64": "AAAA", "mime_type": "audio/ogg"}}, "sendWhatsAppAudio"),
    (
        {
            "type": "document",
            "media": {"base64": "JVBERi0x", "mime_type": "application/pdf", "file_name": "r.pdf"},
        },
        "sendMedia",
    ),
    ({"type": "location", "location": {"latitude": 1.5, "longitude": 2.5}}, "sendLocation"),
    ({"type": "contact", "contact": {"name": "Bia", "phone": "5511977776666"}}, "sendContact"),
    (
        {"type": "reaction", "reaction": {"message_id": "3EB0INBOUND1", "emoji": "👍"}},
        "sendReaction",
    ),
]


async def test_every_outbound_type_and_its_receipts(
    server: RunningServer,
    admin: httpx.AsyncClient,
    fake: FakeEvolution,
) -> None:
    session = await login(server, admin, fake)
    sent: list[dict[str, Any]] = []
    for body, action in SENDS:
        accepted = await send(admin, session["id"], to=f"+{CONTACT}", **body)
        message = await wait_sent(admin, accepted["id"])
        assert message["wa_message_id"] == f"3EB0FAKE{len(sent) + 1:08d}"
        assert fake.calls("message", action)[-1].path == f"/message/{action}/sales"
        sent.append(message)
    image_call = fake.calls("message", "sendMedia")[0]
    assert image_call.body["caption"] == "look"
    assert base64.b64decode(image_call.body["media"]) == b"\xff\xd8 jpeg bytes"

    async with server.client(key=None) as anonymous:
        text, voice = sent[0], sent[4]
        for wa_id, status in [
            (text["wa_message_id"], "DELIVERY_ACK"),
            (text["wa_message_id"], "READ"),
            (voice["wa_message_id"], 5),  # PLAYED as a number
        ]:
            response = await anonymous.post(session["ingest_url"], json=receipt(wa_id, status))
            assert response.status_code == 200, response.text

    async def statuses() -> bool:
        text_now = (await admin.get(f"/v1/messages/{text['id']}")).json()
        voice_now = (await admin.get(f"/v1/messages/{voice['id']}")).json()
        assert (text_now["status"], voice_now["status"]) == ("read", "played")
        return True

    await eventually(statuses)


async def test_a_reply_quotes_the_whatsapp_id(
    server: RunningServer, admin: httpx.AsyncClient, fake: FakeEvolution
) -> None:
    session = await login(server, admin, fake)
    first = await wait_sent(admin, (await send(admin, session["id"], to=CONTACT, text="one"))["id"])
    reply = await send(admin, session["id"], to=CONTACT, text="two", reply_to=first["id"])
    await wait_sent(admin, reply["id"])
    quoted = fake.calls("message", "sendText")[-1].body["quoted"]
    assert quoted == {"key": {"id": first["wa_message_id"]}}


async def test_evolution_refusal_fails_the_message(
    server: RunningServer, admin: httpx.AsyncClient, fake: FakeEvolution
) -> None:
    session = await login(server, admin, fake)
    fake.failures.append(
        (400, [{"exists": False, "jid": f"{CONTACT}@s.whatsapp.net", "number": CONTACT}])
    )
    accepted = await send(admin, session["id"], to=CONTACT, text="hello?")

    async def failed() -> dict[str, Any]:
        body = dict((await admin.get(f"/v1/messages/{accepted['id']}")).json())
        assert body["status"] == "failed"
        return body

    message = await eventually(failed)
    assert message["error"]["code"] == "evolution_rejected"
    assert "is not on WhatsApp" in message["error"]["message"]


async def test_keepalive_notices_a_drop_and_the_session_reconnects(
    server: RunningServer, admin: httpx.AsyncClient, fake: FakeEvolution
) -> None:
    session = await login(server, admin, fake)
    fake.state = "close"
    await server.advance(30)  # the watchdog's keepalive asks connectionState

    async def reconnected() -> bool:
        await server.advance(1)
        fake.state = "open" if fake.calls("instance", "connect/") else fake.state
        body = (await admin.get(f"/v1/sessions/{session['id']}")).json()
        assert body["status"] == "connected"
        return True

    await eventually(reconnected)
    assert fake.calls("instance", "connect/")  # the new transport woke the instance up


async def test_connection_update_webhook_logs_the_session_out(
    server: RunningServer, admin: httpx.AsyncClient, fake: FakeEvolution
) -> None:
    session = await login(server, admin, fake)
    payload = json.loads((PAYLOADS / "connection_close_logged_out.json").read_text())
    async with server.client(key=None) as anonymous:
        response = await anonymous.post(session["ingest_url"], json=payload)
    assert response.status_code == 200
    await wait_status(admin, session["id"], "logged_out")


async def test_pairing_code(
    server: RunningServer, admin: httpx.AsyncClient, fake: FakeEvolution
) -> None:
    session = await create_session(
        admin,
        "sales",
        transport="evolution",
        config={"base_url": fake.base_url, "api_key": API_KEY},
    )
    await wait_status(admin, session["id"], "qr")
    response = await admin.post(
        f"/v1/sessions/{session['id']}/pairing-code", json={"phone": CONTACT}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"code": "WZYE-H1YY"}


async def test_logout_calls_evolution(
    server: RunningServer, admin: httpx.AsyncClient, fake: FakeEvolution
) -> None:
    session = await login(server, admin, fake)
    response = await admin.post(f"/v1/sessions/{session['id']}/logout")
    assert response.status_code == 202
    await wait_status(admin, session["id"], "logged_out")
    assert fake.calls("instance", "logout")
    assert fake.state == "close"


async def test_unknown_events_and_junk_reach_the_protocol_monitor(
    server: RunningServer, admin: httpx.AsyncClient, fake: FakeEvolution
) -> None:
    session = await login(server, admin, fake)
    async with server.client(key=None) as anonymous:
        for name in ("unknown_event", "upsert_without_key"):
            payload = json.loads((PAYLOADS / f"{name}.json").read_text())
            response = await anonymous.post(session["ingest_url"], json=payload)
            assert response.status_code == 200, response.text

    async def counted() -> bool:
        health = (await admin.get(f"/v1/sessions/{session['id']}/health")).json()
        protocol = health["protocol"]
        assert protocol["unknown_event_types"] == {"evolution:labels.shuffle": 1}
        assert protocol["unparseable_payloads"] == 1
        return True

    await eventually(counted)


async def test_a_new_base_url_needs_the_api_key_again(
    server: RunningServer, admin: httpx.AsyncClient, fake: FakeEvolution
) -> None:
    """A key set for one Evolution server is never sent to another one."""
    session = await create_session(
        admin,
        "moving",
        transport="evolution",
        config={"base_url": fake.base_url, "api_key": API_KEY},
        start=False,
    )
    path = f"/v1/sessions/{session['id']}"
    elsewhere = "http://127.0.0.1:9/evolution"
    moved = await admin.patch(path, json={"config": {"base_url": elsewhere}})
    assert moved.status_code == 422
    assert moved.json()["error"]["code"] == "invalid_config"
    assert "api_key" in moved.json()["error"]["message"]
    renamed = await admin.patch(path, json={"config": {"instance": "other-name"}})
    assert renamed.status_code == 200  # not the endpoint: the key stays
    with_key = await admin.patch(
        path, json={"config": {"base_url": elsewhere, "api_key": "key-for-the-new-server"}}
    )
    assert with_key.status_code == 200, with_key.text
    async with server.services.db.read() as tx:
        row = await sessions.get_session(tx, session["id"], None)
    config = server.services.manager.session_config(row)
    assert config["api_key"] == "key-for-the-new-server"
    assert config["base_url"] == elsewhere
