"""POST /v1/ingest/evolution/{session}: webhooks stored as messages, on both databases."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import create_session
from tests.support.server import RunningServer, eventually, make_settings, running_server
from tests.transports.evolution.fake import API_KEY
from wagate.domain import FakeClock

PAYLOADS = Path(__file__).parents[1] / "transports" / "evolution" / "payloads"
PHONE = "5511988887777"
PHONE_JID = f"{PHONE}@s.whatsapp.net"
LID = "187654321098765@lid"
FILE = b"\x89PNG fake image bytes"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((PAYLOADS / f"{name}.json").read_text()))


@pytest.fixture
async def anonymous(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client(key=None) as client:
        yield client


async def evolution_session(admin: httpx.AsyncClient, name: str = "sales") -> dict[str, Any]:
    return await create_session(
        admin,
        name,
        transport="evolution",
        start=False,
        config={"base_url": "http://127.0.0.1:9", "api_key": API_KEY},
    )


async def post(client: httpx.AsyncClient, url: str, payload: Any) -> httpx.Response:
    return await client.post(url, json=payload)


async def messages(admin: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    page = (await admin.get(f"/v1/sessions/{session_id}/messages?limit=100")).json()
    return list(page["items"])


async def stored(admin: httpx.AsyncClient, session_id: str, wa_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        for item in await messages(admin, session_id):
            if item["wa_message_id"] == wa_id:
                return item
        return None

    found: dict[str, Any] = await eventually(check)
    return found


# --------------------------------------------------------------------------- the session


async def test_session_json_shows_the_ingest_url(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await evolution_session(admin)
    assert session["transport"] == "evolution"
    url = session["ingest_url"]
    assert url.startswith(f"{server.base_url}/v1/ingest/evolution/sales?token=")
    assert "config" not in session
    assert API_KEY not in json.dumps(session)


@pytest.mark.parametrize(
    ("config", "code"),
    [
        ({"base_url": "http://127.0.0.1:9"}, "invalid_config"),
        ({"api_key": "k"}, "invalid_config"),
        ({"base_url": "not a url", "api_key": "k"}, "invalid_config"),
    ],
)
async def test_bad_config_is_refused(
    admin: httpx.AsyncClient, config: dict[str, Any], code: str
) -> None:
    response = await admin.post(
        "/v1/sessions", json={"name": "sales", "transport": "evolution", "config": config}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_loopback_base_url_needs_allow_private_urls(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "data", allow_private_urls=False)
    async with running_server(settings, FakeClock()) as private, private.client() as admin:
        response = await admin.post(
            "/v1/sessions",
            json={
                "name": "sales",
                "transport": "evolution",
                "config": {"base_url": "http://127.0.0.1:8080", "api_key": "k"},
            },
        )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "unsafe_url"


# --------------------------------------------------------------------------- auth and junk


async def test_token_is_required_and_checked(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    session = await evolution_session(admin)
    bare = "/v1/ingest/evolution/sales"
    missing = await post(anonymous, bare, load("text_conversation"))
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_ingest_token"
    wrong = await post(anonymous, f"{bare}?token=nope", load("text_conversation"))
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_ingest_token"
    unknown = await post(
        anonymous, "/v1/ingest/evolution/nobody?token=x", load("text_conversation")
    )
    assert unknown.status_code == 401  # as a wrong token: which names exist stays unknown
    assert unknown.json() == wrong.json()
    assert await messages(admin, session["id"]) == []


async def test_simulator_session_of_that_name_is_not_an_evolution_session(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await create_session(admin, "sim", start=False)
    response = await post(anonymous, "/v1/ingest/evolution/sim?token=x", load("text_conversation"))
    assert response.status_code == 401


async def test_malformed_json_is_400(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    session = await evolution_session(admin)
    response = await anonymous.post(
        session["ingest_url"], content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


async def test_unknown_events_and_unparseable_payloads_are_answered_200(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    session = await evolution_session(admin)
    unknown = await post(anonymous, session["ingest_url"], load("unknown_event"))
    assert unknown.status_code == 200
    assert unknown.json()["status"] == "ignored"
    junk = await post(anonymous, session["ingest_url"], load("upsert_without_key"))
    assert junk.status_code == 200
    assert junk.json()["events"] == 1
    not_object = await post(anonymous, session["ingest_url"], [1, 2, 3])
    assert not_object.status_code == 200
    assert await messages(admin, session["id"]) == []


# --------------------------------------------------------------------------- messages


CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("text_conversation", "3EB0TEXT0001", {"type": "text", "text": "hello there"}),
    ("reply_context_lifted", "3EB0LIFT0003", {"reply_to": "3EB0QUOTED0001"}),
    ("text_extended_pre22", "3EB0EXT0002", {"reply_to": "3EB0QUOTED0001"}),
    ("lid_senderpn_previous", "3EB0LID231A", {"chat_id": PHONE_JID, "sender_lid": LID}),
    ("lid_senderpn_unrewritten", "3EB0LID231B", {"chat_id": PHONE_JID, "sender_lid": LID}),
    ("lid_rewritten", "3EB0LID233", {"chat_id": PHONE_JID, "sender_lid": None}),
    ("lid_alt_lid_mode", "3EB0LID235A", {"chat_id": PHONE_JID, "sender_phone": PHONE}),
    ("lid_alt_pn_mode", "3EB0LID235B", {"chat_id": PHONE_JID, "sender_lid": LID}),
    ("lid_only", "3EB0LIDONLY", {"chat_id": LID, "sender_phone": None, "sender_lid": LID}),
    (
        "group_participant_alt",
        "3EB0GRP0002",
        {"chat_type": "group", "sender": PHONE_JID, "sender_lid": LID},
    ),
    ("from_me_phone", "3EB0FROMME01", {"from_me": True, "sender_phone": "5511900000000"}),
    ("voice_ptt", "3EB0PTT0001", {"type": "voice"}),
    ("document_with_caption", "3EB0DOC0002", {"type": "document", "text": "your invoice"}),
    ("sticker", "3EB0STK0001", {"type": "sticker"}),
    ("location", "3EB0LOC0001", {"type": "location"}),
    ("contacts_array", "3EB0CON0002", {"type": "contacts"}),
    ("reaction_removed", "3EB0REA0002", {"type": "reaction"}),
    ("list_reply", "3EB0LST0001", {"type": "interactive", "text": "Large pizza"}),
    ("ephemeral", "3EB0EPH0001", {"text": "disappearing"}),
    ("view_once_stub", "3EB0VOSTUB1", {"type": "unsupported"}),
    ("timestamp_string", "3EB0TSSTR01", {"timestamp": "2026-01-05T11:59:00Z"}),
]


@pytest.mark.parametrize(("name", "wa_id", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_ingested_messages_are_stored(
    admin: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    name: str,
    wa_id: str,
    expected: dict[str, Any],
) -> None:
    session = await evolution_session(admin)
    response = await post(anonymous, session["ingest_url"], load(name))
    assert response.status_code == 200, response.text
    message = await stored(admin, session["id"], wa_id)
    assert message["direction"] == "in"
    assert message["timestamp"] == "2026-01-05T11:59:00Z"  # messageTimestamp, not date_time
    for key, value in expected.items():
        assert message[key] == value, key


async def test_inline_media_is_stored_and_served(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    session = await evolution_session(admin)
    await post(anonymous, session["ingest_url"], load("image_inline_base64"))
    message = await stored(admin, session["id"], "3EB0IMG0001")
    assert (message["type"], message["text"]) == ("image", "look at this")
    media = message["media"]
    assert (media["mime_type"], media["size"]) == ("image/jpeg", len(FILE))
    download = await admin.get(media["url"])
    assert download.status_code == 200
    assert download.content == FILE


async def test_redelivered_webhook_is_stored_once(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    session = await evolution_session(admin)
    for _ in range(3):
        await post(anonymous, session["ingest_url"], load("text_conversation"))
    await stored(admin, session["id"], "3EB0TEXT0001")
    assert len(await messages(admin, session["id"])) == 1


async def test_edits_and_revokes_update_the_original(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    session = await evolution_session(admin)
    url = session["ingest_url"]
    await post(anonymous, url, load("text_conversation"))
    await stored(admin, session["id"], "3EB0TEXT0001")
    await post(anonymous, url, load("protocol_edit"))
    await post(anonymous, url, load("messages_edited_event"))

    async def edited() -> bool:
        message = await stored(admin, session["id"], "3EB0TEXT0001")
        assert message["text"] == "edited, 2.2 event"
        assert message["edited_at"] == "2026-01-05T12:00:00Z"
        return True

    await eventually(edited)
    await post(anonymous, url, load("protocol_revoke"))

    async def revoked() -> bool:
        message = await stored(admin, session["id"], "3EB0TEXT0001")
        assert message["revoked_at"] is not None
        return True

    await eventually(revoked)
    assert len(await messages(admin, session["id"])) == 1  # no new rows for edits or revokes


# --------------------------------------------------------------------------- by-events URLs


@pytest.mark.parametrize("style", ["path", "after_token"])
async def test_webhook_by_events_urls(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, style: str
) -> None:
    session = await evolution_session(admin)
    base, _, token = session["ingest_url"].partition("?token=")
    url = (
        f"{base}/messages-upsert?token={token}"
        if style == "path"
        else f"{base}?token={token}/messages-upsert"
    )
    payload = load("text_conversation")
    del payload["event"]
    response = await post(anonymous, url, payload)
    assert response.status_code == 200, response.text
    assert response.json()["event"] == "messages.upsert"
    await stored(admin, session["id"], "3EB0TEXT0001")


async def test_by_events_url_with_a_wrong_token_is_401(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await evolution_session(admin)
    response = await post(
        anonymous,
        "/v1/ingest/evolution/sales/messages-upsert?token=nope",
        load("text_conversation"),
    )
    assert response.status_code == 401


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_inline_media_over_the_limit_keeps_the_message(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "data", media_max_bytes=1024)
    payload = load("image_inline_base64")
    payload["data"]["message"]["base64"] = base64.b64encode(b"x" * 2048).decode()
    async with running_server(settings, FakeClock()) as small, small.client() as admin:
        session = await evolution_session(admin)
        async with small.client(key=None) as anonymous:
            response = await post(anonymous, session["ingest_url"], payload)
        assert response.status_code == 200
        message = await stored(admin, session["id"], "3EB0IMG0001")
    assert message["type"] == "image"
    assert message["media"]["url"] is None
