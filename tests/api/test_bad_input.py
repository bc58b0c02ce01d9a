"""Bad input on every route: a 4xx with a machine-readable code, never a 500 or a traceback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import connected_session
from tests.support.server import RunningServer

S = "{sid}"
CASES: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/v1/sessions", "{not json", 400, "invalid_json"),
    ("POST", "/v1/sessions", [], 422, "validation_error"),
    ("POST", "/v1/sessions", {}, 422, "validation_error"),
    ("POST", "/v1/sessions", {"name": "has space"}, 422, "validation_error"),
    ("POST", "/v1/sessions", {"name": "x", "transport": "telegram"}, 422, "validation_error"),
    ("POST", "/v1/sessions", {"name": "x", "transport": "cloud"}, 422, "invalid_config"),
    ("POST", "/v1/sessions", {"name": "x", "config": {"contacts": -1}}, 422, "invalid_config"),
    ("POST", "/v1/sessions", {"name": "x", "priority": "high"}, 422, "validation_error"),
    ("POST", "/v1/sessions", {"name": "x", "unknown": 1}, 422, "validation_error"),
    ("GET", "/v1/sessions/nope", None, 404, "not_found"),
    ("POST", "/v1/sessions/nope/start", None, 404, "not_found"),
    ("GET", "/v1/nothing-here", None, 404, "not_found"),
    ("PATCH", "/v1/sessions", None, 405, "method_not_allowed"),
    ("POST", f"/v1/sessions/{S}/messages", {"to": "abc", "text": "x"}, 422, "invalid_destination"),
    ("POST", f"/v1/sessions/{S}/messages", {"to": "123", "text": "x"}, 422, "invalid_destination"),
    (
        "POST",
        f"/v1/sessions/{S}/messages",
        {"to": "x@example.com", "text": "x"},
        422,
        "invalid_destination",
    ),
    ("POST", f"/v1/sessions/{S}/messages", {"to": "5511988887777"}, 422, "validation_error"),
    (
        "POST",
        f"/v1/sessions/{S}/messages",
        {"to": "5511988887777", "text": " "},
        422,
        "validation_error",
    ),
    (
        "POST",
        f"/v1/sessions/{S}/messages",
        {"to": "5511988887777", "type": "image"},
        422,
        "validation_error",
    ),
    (
        "POST",
        f"/v1/sessions/{S}/messages",
        {"to": "5511988887777", "type": "image", "media": {"base64": "***"}},
        422,
        "invalid_media",
    ),
    (
        "POST",
        f"/v1/sessions/{S}/messages",
        {"to": "5511988887777", "type": "image", "media": {"url": "ftp://x/y"}},
        422,
        "invalid_url",
    ),
    (
        "POST",
        f"/v1/sessions/{S}/messages",
        {"to": "5511988887777", "type": "image", "media": {"url": "a", "base64": "b"}},
        422,
        "validation_error",
    ),
    (
        "POST",
        f"/v1/sessions/{S}/messages",
        {"to": "5511988887777", "type": "location", "location": {"latitude": 100, "longitude": 0}},
        422,
        "validation_error",
    ),
    (
        "POST",
        f"/v1/sessions/{S}/messages",
        {"to": "5511988887777", "type": "sticker", "media": {"url": "http://x/y"}},
        422,
        "unsupported_by_transport",  # stickers go out on whatsmeow and cloud only
    ),
    (
        "POST",
        f"/v1/sessions/{S}/messages",
        {"to": "5511988887777", "type": "fax"},
        422,
        "validation_error",
    ),
    ("POST", f"/v1/sessions/{S}/messages", "[1,", 400, "invalid_json"),
    ("GET", f"/v1/sessions/{S}/messages?limit=0", None, 422, "validation_error"),
    ("GET", f"/v1/sessions/{S}/messages?limit=x", None, 422, "validation_error"),
    ("GET", f"/v1/sessions/{S}/messages?direction=up", None, 422, "validation_error"),
    ("GET", f"/v1/sessions/{S}/messages?cursor=-1", None, 422, "invalid_cursor"),
    ("GET", f"/v1/sessions/{S}/messages?cursor=%C2%B2", None, 422, "invalid_cursor"),  # "²"
    ("GET", f"/v1/sessions/{S}/messages?cursor={'9' * 5000}", None, 422, "invalid_cursor"),
    ("GET", f"/v1/sessions/{S}/messages?cursor={2**63}", None, 422, "invalid_cursor"),
    ("GET", "/v1/events?after=%D9%A3", None, 422, "invalid_cursor"),  # Arabic-Indic three
    ("GET", f"/v1/events?after={2**64}", None, 422, "invalid_cursor"),
    ("GET", "/v1/messages/msg_missing", None, 404, "not_found"),
    ("GET", f"/v1/sessions/{S}/qr", None, 409, "not_waiting_for_scan"),
    ("POST", f"/v1/sessions/{S}/pairing-code", {"phone": "abcdefgh"}, 422, "invalid_destination"),
    ("POST", f"/v1/sessions/{S}/pairing-code", {}, 422, "validation_error"),
    (
        "POST",
        f"/v1/sessions/{S}/pairing-code",
        {"phone": "5511912345678"},
        409,
        "already_connected",
    ),
    ("POST", f"/v1/simulator/{S}/inbound", {"text": "no sender"}, 422, "validation_error"),
    (
        "POST",
        f"/v1/simulator/{S}/inbound",
        {"from": "55119", "type": "image"},
        422,
        "validation_error",
    ),
    ("POST", f"/v1/simulator/{S}/disconnect", {"code": "x"}, 422, "validation_error"),
    ("POST", f"/v1/simulator/{S}/disconnect", {"code": 5}, 422, "validation_error"),
    ("POST", f"/v1/simulator/{S}/scan", None, 409, "not_waiting_for_scan"),
    ("POST", "/v1/webhooks", {"url": "not a url"}, 422, "invalid_url"),
    (
        "POST",
        "/v1/webhooks",
        {"url": "http://127.0.0.1:1/x", "events": ["nope"]},
        422,
        "unknown_event_type",
    ),
    (
        "POST",
        "/v1/webhooks",
        {"url": "http://127.0.0.1:1/x", "events": []},
        422,
        "validation_error",
    ),
    ("DELETE", "/v1/webhooks/whk_missing", None, 404, "not_found"),
    ("GET", "/v1/events?after=x", None, 422, "invalid_cursor"),
    ("POST", "/v1/admin/tenants", {"name": ""}, 422, "validation_error"),
    ("POST", "/v1/admin/tenants", {"name": "big", "max_sessions": 10**20}, 422, "validation_error"),
    ("PUT", f"/v1/sessions/{S}/settings", {"message_ttl_s": 1e300}, 422, "invalid_settings"),
    ("PUT", f"/v1/sessions/{S}/settings", {"daily_cap": 10**30}, 422, "invalid_settings"),
    ("POST", "/v1/admin/tenants/nope/keys", {}, 404, "not_found"),
    ("DELETE", "/v1/admin/keys/nope", None, 404, "not_found"),
    (
        "POST",
        f"/v1/sessions/{S}/messages",
        {"to": "5511988887777", "text": "a\u0000b"},
        400,
        "invalid_characters",
    ),
    ("GET", f"/v1/sessions/{S}/messages?chat_id=a%00b", None, 400, "invalid_characters"),
    ("GET", "/v1/sessions/a%00b", None, 400, "invalid_characters"),
    (
        "POST",
        "/v1/sessions",
        {"name": "x", "config": {"push_name": "a\u0000"}},
        400,
        "invalid_characters",
    ),
    (
        "POST",
        f"/v1/simulator/{S}/inbound",
        {"from": "5511988887777", "text": "\u0000"},
        400,
        "invalid_characters",
    ),
]


async def test_bad_input_gets_a_clear_4xx(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    failures = []
    for method, path, body, status, code in CASES:
        url = path.replace(S, session["id"])
        kwargs: dict[str, Any] = {}
        if isinstance(body, str):
            kwargs = {"content": body, "headers": {"content-type": "application/json"}}
        elif body is not None:
            kwargs = {"json": body}
        response = await admin.request(method, url, **kwargs)
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            failures.append((method, path, response.status_code, response.text[:200]))
            continue
        if response.status_code != status or error["code"] != code or not error["message"]:
            failures.append((method, path, response.status_code, error))
        assert "Traceback" not in response.text
    assert failures == []


async def test_private_urls_are_refused_unless_allowed(
    db_url: str, tmp_path: Any, clock: Any
) -> None:
    from tests.support.server import make_settings, running_server

    settings = make_settings(db_url, tmp_path / "data", allow_private_urls=False)
    async with running_server(settings, clock) as running, running.client() as admin:
        session = await connected_session(running, admin)
        for url in (
            "http://127.0.0.1/x",
            "http://10.0.0.1/x",
            "http://169.254.169.254/latest",
            "http://[::1]/x",
            "http://localhost/x",
            "http://100.100.100.200/latest/meta-data",  # shared address space: not global
            "http://[2002:a9fe:a9fe::1]/x",  # 6to4 wrapping 169.254.169.254
        ):
            response = await admin.post(
                f"/v1/sessions/{session['id']}/messages",
                json={"to": "5511988887777", "type": "image", "media": {"url": url}},
            )
            assert response.status_code == 422, url
            assert response.json()["error"]["code"] == "unsafe_url"
            hook = await admin.post("/v1/webhooks", json={"url": url})
            assert hook.status_code == 422
            assert hook.json()["error"]["code"] == "unsafe_url"


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "bearer x y", "Token x"])
async def test_malformed_authorization(server: RunningServer, header: str) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.get("/v1/sessions", headers={"authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_an_escaped_backslash_before_u0000_is_plain_text(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    text = "path C:\\u0000dir"  # a backslash, then the letters u0000: no NUL character
    response = await admin.post(
        f"/v1/sessions/{session['id']}/messages", json={"to": "5511988887777", "text": text}
    )
    assert response.status_code == 202
    assert response.json()["text"] == text
