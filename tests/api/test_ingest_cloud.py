"""``/v1/ingest/cloud``: Meta's handshake and signed notifications, on both databases.

A cloud session connects to a fake Graph API on loopback; notifications are
the golden payloads of tests/transports/cloud/data, signed like Meta signs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.api.helpers import find_inbound, send, wait_sent, wait_status
from tests.support.fake_graph import (
    CLOUD_APP_SECRET,
    CLOUD_PHONE_ID,
    CLOUD_TOKEN,
    CLOUD_VERIFY_TOKEN,
    FakeGraph,
    cloud_config,
    running_fake_graph,
    sign,
)
from tests.support.server import RunningServer, eventually, make_settings, running_server
from wagate.domain import FakeClock
from wagate.store.models import UnmatchedReceipt
from wagate.store.repositories import events

DATA = Path(__file__).parents[1] / "transports" / "cloud" / "data"


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with running_fake_graph(token=CLOUD_TOKEN, phone_number_id=CLOUD_PHONE_ID) as fake:
        yield fake


@pytest.fixture
async def cloud_server(
    db_url: str, tmp_path: Path, clock: FakeClock, graph: FakeGraph
) -> AsyncIterator[RunningServer]:
    settings = make_settings(db_url, tmp_path / "data", cloud_graph_url=graph.url)
    async with running_server(settings, clock) as running:
        yield running


@pytest.fixture
async def client(cloud_server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with cloud_server.client() as c:
        yield c


@pytest.fixture
async def session(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(
        "/v1/sessions", json={"name": "shop", "transport": "cloud", "config": cloud_config()}
    )
    assert response.status_code == 201, response.text
    await wait_status(client, response.json()["id"], "connected")
    return dict((await client.get(f"/v1/sessions/{response.json()['id']}")).json())


def golden(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return data


async def notify(
    client: httpx.AsyncClient, payload: Any, *, secret: str = CLOUD_APP_SECRET
) -> httpx.Response:
    body = json.dumps(payload).encode()
    return await client.post(
        "/v1/ingest/cloud",
        content=body,
        headers={"content-type": "application/json", "x-hub-signature-256": sign(body, secret)},
    )


async def inbound_items(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    page = (await client.get(f"/v1/sessions/{session_id}/messages?direction=in")).json()
    return list(page["items"])


# --------------------------------------------------------------------------- handshake


async def test_handshake_answers_the_challenge(
    client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": CLOUD_VERIFY_TOKEN}
    response = await client.get(
        "/v1/ingest/cloud", params={**params, "hub.challenge": "1158201444"}
    )
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong-token", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": CLOUD_VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
async def test_handshake_refuses_anything_else(
    client: httpx.AsyncClient, session: dict[str, Any], params: dict[str, str]
) -> None:
    response = await client.get("/v1/ingest/cloud", params=params)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "verify_token_mismatch"


async def test_ingest_needs_no_api_key(
    cloud_server: RunningServer, session: dict[str, Any]
) -> None:
    async with cloud_server.client(key=None) as anonymous:
        response = await notify(anonymous, golden("text_two_messages"))
    assert response.status_code == 200


# --------------------------------------------------------------------------- signatures


async def test_missing_or_wrong_signature_is_401(
    client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    body = json.dumps(golden("text_two_messages")).encode()
    missing = await client.post("/v1/ingest/cloud", content=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_signature"
    wrong = await notify(client, golden("text_two_messages"), secret="another-app-secret")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_signature"
    tampered = await client.post(
        "/v1/ingest/cloud",
        content=body.replace(b"another color", b"another price"),
        headers={"x-hub-signature-256": sign(body)},
    )
    assert tampered.status_code == 401
    assert await inbound_items(client, session["id"]) == []


async def test_malformed_json_is_400(client: httpx.AsyncClient, session: dict[str, Any]) -> None:
    body = b'{"entry": [ not json'
    response = await client.post(
        "/v1/ingest/cloud", content=body, headers={"x-hub-signature-256": sign(body)}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


# --------------------------------------------------------------------------- routing and storing


async def test_every_message_is_stored(client: httpx.AsyncClient, session: dict[str, Any]) -> None:
    response = await notify(client, golden("text_two_messages"))
    assert response.status_code == 200
    sheena = await find_inbound(
        client, session["id"], "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
    )
    assert sheena["chat_id"] == "16505551234@s.whatsapp.net"
    assert sheena["sender_phone"] == "16505551234"
    assert sheena["push_name"] == "Sheena Nelson"
    assert sheena["text"] == "Does it come in another color?"
    assert sheena["timestamp"] == "2025-06-08T20:59:43Z"
    assert sheena["status"] == "received"
    bruno = await find_inbound(
        client, session["id"], "wamid.HBgNNTUxMTk4ODg4Nzc3NxUCABIYFDNBMDIxRjY0QUE3RDk2RDQ2OEE3AA=="
    )
    assert bruno["push_name"] == "Bruno Costa"
    again = await notify(client, golden("text_two_messages"))  # Meta retries: stored once
    assert again.status_code == 200
    assert len(await inbound_items(client, session["id"])) == 2


async def test_unknown_phone_number_id_is_ignored_with_200(
    client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    response = await notify(client, golden("multi_entry"))
    assert response.status_code == 200
    ids = {m["wa_message_id"] for m in await inbound_items(client, session["id"])}
    assert ids == {"wamid.ENTRY1", "wamid.ENTRY2"}  # ENTRY1B was for another number


async def test_users_without_a_phone_number(
    client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    await notify(client, golden("bsuid_only"))
    maria = await find_inbound(client, session["id"], "wamid.BSUID1")
    assert maria["sender"] == "MX.7712340985512@bsuid"
    assert maria["chat_id"] == "MX.7712340985512@bsuid"
    assert maria["sender_phone"] is None
    assert maria["push_name"] == "Maria"
    nameless = await find_inbound(client, session["id"], "wamid.BSUID2")
    assert nameless["push_name"] == "@nameless"


async def test_reactions_interactive_and_unsupported(
    client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    for name in ("reactions", "interactive", "unsupported"):
        assert (await notify(client, golden(name))).status_code == 200
    removed = await find_inbound(client, session["id"], "wamid.UNREACT.MISSING")
    assert removed["type"] == "reaction"
    assert removed["reaction"] == {"message_id": "wamid.TARGET", "emoji": None}
    button = await find_inbound(client, session["id"], "wamid.BUTTON_REPLY")
    assert button["type"] == "interactive"
    assert button["text"] == "Yes, please"
    unsupported = await find_inbound(client, session["id"], "wamid.UNSUPPORTED")
    assert unsupported["type"] == "unsupported"


async def test_unparseable_messages_are_dead_lettered(
    cloud_server: RunningServer, client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    payload = golden("text_two_messages")
    payload["entry"][0]["changes"][0]["value"]["messages"][0].pop("timestamp")
    response = await notify(client, payload)
    assert response.status_code == 200

    async def dead() -> list[Any]:
        async with cloud_server.services.db.read() as tx:
            return await events.list_dead_letters(tx)

    (letter,) = await eventually(dead)
    assert letter.source == "cloud"
    assert letter.session_id == session["id"]
    assert "timestamp" in letter.reason
    assert len(await inbound_items(client, session["id"])) == 1  # the other message is kept


async def test_not_a_notification_is_ignored_with_200(
    client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    response = await notify(client, {"object": "page", "hello": "world"})
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"


# --------------------------------------------------------------------------- media


async def test_inbound_media_is_downloaded_and_served(
    client: httpx.AsyncClient, session: dict[str, Any], graph: FakeGraph
) -> None:
    graph.add_media("1003383421387256", b"\xff\xd8 a jpeg", "image/jpeg")
    graph.add_media("1003383421387258", b"%PDF-1.4 invoice", "application/pdf")
    payload = golden("media_kinds")
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    payload["entry"][0]["changes"][0]["value"]["messages"] = [messages[0], messages[2]]
    assert (await notify(client, payload)).status_code == 200
    image = await find_inbound(client, session["id"], "wamid.IMAGE")
    assert image["type"] == "image"
    assert image["text"] == "The blue one"
    assert image["media"]["mime_type"] == "image/jpeg"
    assert image["media"]["size"] == len(b"\xff\xd8 a jpeg")
    served = await client.get(image["media"]["url"])
    assert served.content == b"\xff\xd8 a jpeg"
    document = await find_inbound(client, session["id"], "wamid.DOCUMENT")
    assert document["media"]["file_name"] == "invoice-42.pdf"
    assert (await client.get(document["media"]["url"])).content == b"%PDF-1.4 invoice"


async def test_failed_media_download_keeps_the_message(
    client: httpx.AsyncClient, session: dict[str, Any], graph: FakeGraph
) -> None:
    graph.add_media("1003383421387260", b"OggS voice", "audio/ogg")
    graph.fail_downloads = True
    payload = golden("media_kinds")
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    payload["entry"][0]["changes"][0]["value"]["messages"] = [messages[4]]
    assert (await notify(client, payload)).status_code == 200
    voice = await find_inbound(client, session["id"], "wamid.VOICE")
    assert voice["type"] == "voice"
    assert voice["media"]["voice"] is True
    assert voice["media"]["mime_type"] == "audio/ogg; codecs=opus"
    assert voice["media"]["url"] is None


# --------------------------------------------------------------------------- statuses


def status_payload(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550100123",
                                "phone_number_id": CLOUD_PHONE_ID,
                            },
                            "statuses": statuses,
                        },
                    }
                ],
            }
        ],
    }


async def test_statuses_move_sent_messages_forward(
    client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    queued = await send(client, session["id"], to="+1 650 555 1234", text="hello")
    sent = await wait_sent(client, queued["id"])
    wamid = sent["wa_message_id"]
    assert wamid.startswith("wamid.FAKE")
    statuses = [
        {"id": wamid, "status": s, "timestamp": "1749417001", "recipient_id": "16505551234"}
        for s in ("delivered", "read")
    ]
    assert (await notify(client, status_payload(statuses))).status_code == 200

    async def read() -> bool:
        body = (await client.get(f"/v1/messages/{queued['id']}")).json()
        assert body["status"] == "read", body["status"]
        return True

    await eventually(read)


@pytest.mark.parametrize(
    ("graph_code", "error_code"),
    [
        (131047, "reengagement_window_closed"),
        (131026, "undeliverable"),
        (130429, "rate_limited"),
        (131056, "pair_rate_limited"),
    ],
)
async def test_failed_status_fails_the_message_with_the_mapped_code(
    client: httpx.AsyncClient, session: dict[str, Any], graph_code: int, error_code: str
) -> None:
    queued = await send(client, session["id"], to="16505551234", text="are you there?")
    wamid = (await wait_sent(client, queued["id"]))["wa_message_id"]
    failed = {
        "id": wamid,
        "status": "failed",
        "timestamp": "1749417100",
        "recipient_id": "16505551234",
        "errors": [{"code": graph_code, "title": "Meta says no"}],
    }
    assert (await notify(client, status_payload([failed]))).status_code == 200

    async def is_failed() -> dict[str, Any]:
        body: dict[str, Any] = (await client.get(f"/v1/messages/{queued['id']}")).json()
        assert body["status"] == "failed", body["status"]
        return body

    body = await eventually(is_failed)
    assert body["error"]["code"] == error_code
    assert str(graph_code) in body["error"]["message"]
    status_events = (await client.get("/v1/events?type=message.status")).json()["items"]
    assert status_events[-1]["data"]["error"]["code"] == error_code


async def test_coexistence_echo_is_a_message_from_me(
    client: httpx.AsyncClient, session: dict[str, Any], graph: FakeGraph
) -> None:
    payload = golden("message_echoes")
    value = payload["entry"][0]["changes"][0]["value"]
    value["message_echoes"] = value["message_echoes"][:1]
    assert (await notify(client, payload)).status_code == 200
    echo = await find_inbound(client, session["id"], "wamid.ECHO1")
    assert echo["from_me"] is True
    assert echo["chat_id"] == "16505551234@s.whatsapp.net"
    assert echo["text"] == "Hi Sheena, Ana from the shop here"


async def test_a_retried_notification_downloads_its_media_once(
    client: httpx.AsyncClient, session: dict[str, Any], graph: FakeGraph
) -> None:
    graph.add_media("1003383421387256", b"\xff\xd8 a jpeg", "image/jpeg")
    payload = golden("media_kinds")
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"] = value["messages"][:1]
    for _ in range(2):
        assert (await notify(client, payload)).status_code == 200
    await find_inbound(client, session["id"], "wamid.IMAGE")
    downloads = [r for r in graph.requests if r.path.startswith("/download/")]
    assert len(downloads) == 1


async def test_a_status_that_outruns_the_send_answer_waits_for_it(
    cloud_server: RunningServer, client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    """Meta's webhook can arrive before wagate has committed the wamid its send got: the
    status waits (unmatched_receipts) and is applied once the id is known."""
    early = {"timestamp": "1749417001", "recipient_id": "16505551234"}
    statuses = [
        {"id": "wamid.FAKE000001", "status": "delivered", **early},
        {
            "id": "wamid.FAKE000002",
            "status": "failed",
            **early,
            "errors": [{"code": 131047, "title": "Re-engagement message"}],
        },
    ]
    assert (await notify(client, status_payload(statuses))).status_code == 200
    first = await send(client, session["id"], to="16505551234", text="one")
    second = await send(client, session["id"], to="16505551234", text="two")
    # no wait for `sent` here: the waiting receipts may be applied the moment the
    # sends commit their ids, and the failed one then moves its message past `sent`

    async def applied() -> bool:
        await cloud_server.advance(2)
        one = (await client.get(f"/v1/messages/{first['id']}")).json()
        two = (await client.get(f"/v1/messages/{second['id']}")).json()
        assert (one["status"], two["status"]) == ("delivered", "failed")
        assert two["error"]["code"] == "reengagement_window_closed"
        return True

    await eventually(applied)

    async def forgotten() -> bool:  # applied ones are forgotten (by the background sweep, too)
        assert await cloud_server.services.manager.receipt_pass() == 0
        return True

    await eventually(forgotten)


async def test_statuses_for_messages_never_sent_expire(
    cloud_server: RunningServer, client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    stray = {"id": "wamid.TYPED.ON.ANOTHER.DEVICE", "status": "read", "timestamp": "1749417001"}
    assert (await notify(client, status_payload([stray]))).status_code == 200
    manager = cloud_server.services.manager

    async def parked() -> bool:
        async with cloud_server.services.db.read() as tx:
            return await _waiting(tx) == 1

    await eventually(parked)
    await cloud_server.advance(601)
    await manager.receipt_pass()
    async with cloud_server.services.db.read() as tx:
        assert await _waiting(tx) == 0


async def _waiting(tx: Any) -> int:
    return int(await tx.scalar(select(func.count()).select_from(UnmatchedReceipt)))
