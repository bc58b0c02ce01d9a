"""A cloud session through the API, against a fake Graph API on loopback, on both databases."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    advance_until,
    find_inbound,
    send,
    session_status,
    wait_message,
    wait_sent,
    wait_status,
)
from tests.support.fake_graph import (
    CLOUD_APP_SECRET,
    CLOUD_PHONE_ID,
    CLOUD_TOKEN,
    FakeGraph,
    cloud_config,
    running_fake_graph,
    sign,
)
from tests.support.server import RunningServer, eventually, make_settings, running_server
from wagate.domain import FakeClock
from wagate.store.repositories import sessions

CUSTOMER = "16505551234"


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


async def create(client: httpx.AsyncClient, **config: Any) -> httpx.Response:
    return await client.post(
        "/v1/sessions",
        json={"name": "shop", "transport": "cloud", "config": cloud_config(**config)},
    )


@pytest.fixture
async def session(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await create(client)
    assert response.status_code == 201, response.text
    await wait_status(client, response.json()["id"], "connected")
    return dict((await client.get(f"/v1/sessions/{response.json()['id']}")).json())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_connects_and_shows_the_number(session: dict[str, Any], graph: FakeGraph) -> None:
    assert session["status"] == "connected"
    assert session["phone"] == "15550100123"
    assert session["push_name"] == "Acme Support"
    assert graph.requests[0].path.endswith(f"/{CLOUD_PHONE_ID}")


async def test_secrets_are_sealed_at_rest(
    cloud_server: RunningServer, session: dict[str, Any]
) -> None:
    async with cloud_server.services.db.read() as tx:
        row = await sessions.get_session(tx, session["id"], None)
    stored = json.dumps(row.config)
    for secret in (CLOUD_TOKEN, CLOUD_APP_SECRET, cloud_config()["verify_token"]):
        assert secret not in stored
    assert row.config["phone_number_id"] == CLOUD_PHONE_ID


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"phone_number_id": "not-digits"}, "phone_number_id"),
        ({"app_secret": None}, "app_secret"),
        ({"surprise": "x"}, "surprise"),
    ],
)
async def test_invalid_config_is_422(
    client: httpx.AsyncClient, config: dict[str, Any], field: str
) -> None:
    response = await create(client, **config)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_config"
    assert field in error["message"]
    assert CLOUD_TOKEN not in error["message"]


async def test_no_qr_and_no_pairing_code(
    client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    qr = await client.get(f"/v1/sessions/{session['id']}/qr")
    assert qr.status_code == 422
    assert qr.json()["error"]["code"] == "unsupported_by_transport"
    pairing = await client.post(
        f"/v1/sessions/{session['id']}/pairing-code", json={"phone": "15550100123"}
    )
    assert pairing.status_code == 422
    assert pairing.json()["error"]["code"] == "unsupported_by_transport"


async def test_an_expired_token_logs_the_session_out(
    client: httpx.AsyncClient, graph: FakeGraph
) -> None:
    graph.token = "the-token-meta-has-now"
    response = await create(client)
    assert response.status_code == 201
    await wait_status(client, response.json()["id"], "logged_out")


OUTBOUND: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
    ({"text": "hello"}, "text", {"body": "hello", "preview_url": False}),
    (
        {"type": "location", "location": {"latitude": 1.5, "longitude": 2.5, "name": "Here"}},
        "location",
        {"latitude": 1.5, "longitude": 2.5, "name": "Here", "address": None},  # as pywa sends it
    ),
]


@pytest.mark.parametrize(("body", "wire", "expected"), OUTBOUND, ids=["text", "location"])
async def test_send_plain_types(
    client: httpx.AsyncClient,
    session: dict[str, Any],
    graph: FakeGraph,
    body: dict[str, Any],
    wire: str,
    expected: dict[str, Any],
) -> None:
    queued = await send(client, session["id"], to=f"+{CUSTOMER}", **body)
    sent = await wait_sent(client, queued["id"])
    (request,) = graph.sent()
    assert request["to"] == CUSTOMER
    assert request["type"] == wire
    assert request[wire] == expected
    assert sent["wa_message_id"] == "wamid.FAKE000001"
    assert sent["chat_id"] == f"{CUSTOMER}@s.whatsapp.net"


MEDIA = [
    ("image", "image/png", None, {"caption": "a caption"}),
    ("video", "video/mp4", None, {"caption": "a caption"}),
    ("document", "application/pdf", "q3.pdf", {"caption": "a caption", "filename": "q3.pdf"}),
    ("audio", "audio/mpeg", None, {}),
    ("voice", "audio/ogg", None, {"voice": True}),
    ("sticker", "image/webp", None, {}),
]


@pytest.mark.parametrize(("kind", "mime", "file_name", "extra"), MEDIA, ids=[m[0] for m in MEDIA])
async def test_send_media_uploads_the_bytes(
    client: httpx.AsyncClient,
    session: dict[str, Any],
    graph: FakeGraph,
    kind: str,
    mime: str,
    file_name: str | None,
    extra: dict[str, Any],
) -> None:
    data = f"{kind} bytes".encode()
    media: dict[str, Any] = {"base64": b64(data), "mime_type": mime}
    if "caption" in extra:
        media["caption"] = "a caption"
    if file_name:
        media["file_name"] = file_name
    queued = await send(client, session["id"], to=CUSTOMER, type=kind, media=media)
    await wait_sent(client, queued["id"])
    (upload,) = graph.uploads()
    assert upload.form["file"] == data
    assert upload.form["type"] == mime
    (request,) = graph.sent()
    wire = "audio" if kind == "voice" else kind
    assert request["type"] == wire
    assert request[wire] == {"id": next(iter(graph.media)), **extra}


async def test_contact_reply_and_reactions(
    cloud_server: RunningServer,
    client: httpx.AsyncClient,
    session: dict[str, Any],
    graph: FakeGraph,
) -> None:
    inbound = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"phone_number_id": CLOUD_PHONE_ID},
                            "contacts": [{"profile": {"name": "Sheena"}, "wa_id": CUSTOMER}],
                            "messages": [
                                {
                                    "from": CUSTOMER,
                                    "id": "wamid.ASK",
                                    "timestamp": "1749416383",
                                    "type": "text",
                                    "text": {"body": "who should I call?"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    raw = json.dumps(inbound).encode()
    posted = await client.post(
        "/v1/ingest/cloud", content=raw, headers={"x-hub-signature-256": sign(raw)}
    )
    assert posted.status_code == 200
    asked = await find_inbound(client, session["id"], "wamid.ASK")
    card = await send(
        client,
        session["id"],
        to=CUSTOMER,
        type="contact",
        contact={"name": "Ana Lima", "phone": "+55 11 97777-6666"},
        reply_to=asked["id"],
    )
    await wait_sent(client, card["id"])
    react = await send(
        client,
        session["id"],
        to=CUSTOMER,
        type="reaction",
        reaction={"message_id": "wamid.ASK", "emoji": "👍"},
    )
    await wait_sent(client, react["id"])
    unreact = await send(
        client, session["id"], to=CUSTOMER, type="reaction", reaction={"message_id": "wamid.ASK"}
    )
    await wait_sent(client, unreact["id"])
    contact, reaction, removal = graph.sent()
    assert contact["context"] == {"message_id": "wamid.ASK"}
    assert contact["contacts"][0]["name"]["formatted_name"] == "Ana Lima"
    assert contact["contacts"][0]["phones"][0]["wa_id"] == "5511977776666"
    assert reaction["reaction"] == {"message_id": "wamid.ASK", "emoji": "👍"}
    assert removal["reaction"] == {"message_id": "wamid.ASK", "emoji": ""}

    read = await client.post(
        f"/v1/sessions/{session['id']}/read",
        json={"chat_id": CUSTOMER, "message_ids": [asked["id"]]},
    )
    assert read.status_code == 202
    typing = await client.post(
        f"/v1/sessions/{session['id']}/presence", json={"chat_id": CUSTOMER, "state": "composing"}
    )
    assert typing.status_code == 202
    assert graph.receipts() == [
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.ASK"},
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.ASK",
            "typing_indicator": {"type": "text"},
        },
    ]


async def test_reengagement_error_fails_the_message(
    client: httpx.AsyncClient, session: dict[str, Any], graph: FakeGraph
) -> None:
    graph.fail_next(400, 131047, "Re-engagement message")
    queued = await send(client, session["id"], to=CUSTOMER, text="are you still there?")
    failed = await wait_message(client, queued["id"], "failed")
    assert failed["error"]["code"] == "reengagement_window_closed"


async def test_rate_limit_is_retried_after_the_wait(
    cloud_server: RunningServer,
    client: httpx.AsyncClient,
    session: dict[str, Any],
    graph: FakeGraph,
) -> None:
    graph.fail_next(400, 130429, "Rate limit hit")
    queued = await send(client, session["id"], to=CUSTOMER, text="hello again")

    async def retrying() -> bool:
        body = (await client.get(f"/v1/messages/{queued['id']}")).json()
        assert body["error"] is not None, body
        assert body["error"]["code"] == "rate_limited"
        return True

    await eventually(retrying)
    sent = await advance_until(cloud_server, client, queued["id"], ("sent",), step=2.0)
    assert sent["wa_message_id"].startswith("wamid.FAKE")
    assert len(graph.sent()) == 2  # the refused attempt and the retry


async def test_token_revoked_while_sending_logs_out_and_keeps_the_message(
    client: httpx.AsyncClient, session: dict[str, Any], graph: FakeGraph
) -> None:
    graph.token = "rotated-by-an-admin"
    queued = await send(client, session["id"], to=CUSTOMER, text="hello")
    await wait_status(client, session["id"], "logged_out")
    body = (await client.get(f"/v1/messages/{queued['id']}")).json()
    assert body["status"] in ("queued", "sending")


async def test_a_quiet_session_stays_connected(
    cloud_server: RunningServer,
    client: httpx.AsyncClient,
    session: dict[str, Any],
    graph: FakeGraph,
) -> None:
    """No webhook for 20 minutes is no dead connection: the watchdog's keepalive is
    answered at once, and the token is re-checked every ten minutes."""
    for _ in range(40):
        await cloud_server.advance(30)
        await asyncio.sleep(0.02)
    assert await session_status(client, session["id"]) == "connected"
    changes = (await client.get("/v1/events?type=session.status")).json()["items"]
    assert [e["data"]["status"] for e in changes][-1] == "connected"
    assert "reconnecting" not in [e["data"]["status"] for e in changes]
    checks = [r for r in graph.requests if r.method == "GET" and r.path.endswith(CLOUD_PHONE_ID)]
    assert 2 <= len(checks) <= 4  # the connect, then one every ten minutes


async def test_a_rotated_token_is_given_with_patch(
    cloud_server: RunningServer, client: httpx.AsyncClient, graph: FakeGraph
) -> None:
    """Meta's token expired: the session is logged out; PATCH the new token (only that
    key: the others are kept) and start it again."""
    graph.token = "the-token-meta-has-now"
    sid = (await create(client)).json()["id"]
    await wait_status(client, sid, "logged_out")
    patched = await client.patch(
        f"/v1/sessions/{sid}", json={"config": {"access_token": "the-token-meta-has-now"}}
    )
    assert patched.status_code == 200, patched.text
    assert (await client.post(f"/v1/sessions/{sid}/start")).status_code == 202
    await wait_status(client, sid, "connected")
    async with cloud_server.services.db.read() as tx:
        row = await sessions.get_session(tx, sid, None)
    assert "the-token-meta-has-now" not in json.dumps(row.config)  # sealed again
    assert row.config["phone_number_id"] == CLOUD_PHONE_ID


async def test_the_session_shows_the_callback_url_to_register(
    session: dict[str, Any], cloud_server: RunningServer
) -> None:
    assert session["ingest_url"] == f"{cloud_server.base_url}/v1/ingest/cloud"


async def test_buttons_and_lists_go_out_as_interactive_messages(
    client: httpx.AsyncClient, session: dict[str, Any], graph: FakeGraph
) -> None:
    buttons = {
        "text": "Confirm your order?",
        "header": "Order 1042",
        "footer": "Reply within 24 h",
        "buttons": [{"id": "yes", "title": "Confirm"}, {"id": "no", "title": "Cancel"}],
    }
    menu = {
        "text": "What can we do for you?",
        "button": "Options",
        "sections": [
            {"title": "Orders", "rows": [{"id": "track", "title": "Track an order"}]},
            {
                "title": "Help",
                "rows": [{"id": "agent", "title": "Talk to us", "description": "a person"}],
            },
        ],
    }
    first = await send(client, session["id"], to=CUSTOMER, type="buttons", buttons=buttons)
    assert first["text"] == "Confirm your order?"
    await wait_sent(client, first["id"])
    second = await send(client, session["id"], to=CUSTOMER, type="list", list=menu)
    await wait_sent(client, second["id"])

    with_buttons, with_list = graph.sent()
    assert with_buttons["type"] == "interactive"
    interactive = with_buttons["interactive"]
    assert interactive["type"] == "button"
    assert interactive["body"] == {"text": "Confirm your order?"}
    assert interactive["header"] == {"type": "text", "text": "Order 1042"}
    assert interactive["footer"] == {"text": "Reply within 24 h"}
    assert [b["reply"] for b in interactive["action"]["buttons"]] == [
        {"id": "yes", "title": "Confirm"},
        {"id": "no", "title": "Cancel"},
    ]
    listed = with_list["interactive"]
    assert listed["type"] == "list"
    assert listed["action"]["button"] == "Options"
    assert [s["title"] for s in listed["action"]["sections"]] == ["Orders", "Help"]
    assert listed["action"]["sections"][1]["rows"] == [
        {"id": "agent", "title": "Talk to us", "description": "a person"}
    ]


async def test_buttons_beyond_metas_limits_are_refused(
    client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    four = [{"id": str(n), "title": f"Option {n}"} for n in range(4)]
    for body in (
        {"type": "buttons", "buttons": {"text": "pick", "buttons": four}},
        {
            "type": "buttons",
            "buttons": {"text": "pick", "buttons": [{"id": "a", "title": "x" * 21}]},
        },
        {
            "type": "list",
            "list": {
                "text": "pick",
                "button": "Open",
                "sections": [
                    {"title": "All", "rows": [{"id": str(n), "title": "r"} for n in range(11)]}
                ],
            },
        },
    ):
        answer = await client.post(
            f"/v1/sessions/{session['id']}/messages", json={"to": CUSTOMER, **body}
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "validation_error"
