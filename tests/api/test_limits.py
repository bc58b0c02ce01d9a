"""Request bodies are bounded per route, before anything is read or authenticated."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.api.helpers import connected_session
from tests.support.server import RunningServer, make_settings, running_server

MEDIA_MAX = 64 * 1024
BODY_MAX = 16 * 1024
INGEST_MAX = 32 * 1024


@pytest.fixture
async def small(db_url: str, tmp_path: Path, clock: Any) -> AsyncIterator[RunningServer]:
    settings = make_settings(
        db_url,
        tmp_path / "data",
        media_max_bytes=MEDIA_MAX,
        max_body_bytes=BODY_MAX,
        ingest_max_bytes=INGEST_MAX,
    )
    async with running_server(settings, clock) as running:
        yield running


async def _raw_request(server: RunningServer, head: str) -> bytes:
    """Send only a request's head (no body) and read the answer until the server closes."""
    url = urlsplit(server.base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(head.encode())
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    return answer


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/v1/sessions", BODY_MAX),
        ("/v1/sessions/ses_x/messages", MEDIA_MAX * 4 // 3 + 64 * 1024),
        ("/v1/ingest/cloud", INGEST_MAX),
    ],
)
async def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    small: RunningServer, path: str, limit: int
) -> None:
    """No key, no body: the answer comes from the Content-Length alone (10 GB claimed)."""
    answer = await _raw_request(
        small,
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {10 * 1024**3}\r\n\r\n",
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"payload_too_large"' in body
    assert str(limit).encode() in body


async def _chunked(server: RunningServer, chunks: int) -> tuple[bytes, int]:
    """POST a chunked body of ``chunks`` times 8 KiB to /v1/sessions, sending and reading at
    once; what came back (until the server closed) and how much was sent."""
    url = urlsplit(server.base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(
        b"POST /v1/sessions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    sent = 0

    async def send_all() -> None:
        nonlocal sent
        chunk = b"a" * 8192
        try:
            for _ in range(chunks):
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent += len(chunk)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the server closed the connection

    sender = asyncio.create_task(send_all())
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    except ConnectionResetError:
        answer = b""
    await sender
    writer.close()
    return answer, sent


async def test_a_chunked_body_over_the_limit_gets_a_413(small: RunningServer) -> None:
    answer, _ = await _chunked(small, BODY_MAX // 8192 + 8)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"payload_too_large"' in body


async def test_an_endless_chunked_body_is_cut_off(small: RunningServer) -> None:
    """80 MB offered: the server stops reading a little past the limit and closes."""
    _, sent = await _chunked(small, 10_000)
    assert sent < 10 * 1024 * 1024


async def test_media_fits_the_send_route_but_not_the_others(small: RunningServer) -> None:
    async with small.client() as admin:
        session = await connected_session(small, admin)
        image = base64.b64encode(b"\xff\xd8" + b"x" * (MEDIA_MAX - 10)).decode()
        sent = await admin.post(
            f"/v1/sessions/{session['id']}/messages",
            json={"to": "5511988887777", "type": "image", "media": {"base64": image}},
        )
        assert sent.status_code == 202, sent.text
        settings = await admin.put(
            f"/v1/sessions/{session['id']}/settings", json={"note": image[:BODY_MAX]}
        )
        assert settings.status_code == 413
        assert settings.json()["error"]["code"] == "payload_too_large"
        too_big = base64.b64encode(b"x" * (MEDIA_MAX * 2)).decode()
        refused = await admin.post(
            f"/v1/sessions/{session['id']}/messages",
            json={"to": "5511988887777", "type": "image", "media": {"base64": too_big}},
        )
        assert refused.status_code == 413
        bulk = await admin.post(
            f"/v1/sessions/{session['id']}/messages/bulk",
            json={
                "messages": [{"to": "5511988887777", "type": "image", "media": {"base64": image}}]
            },
        )
        assert bulk.status_code == 200, bulk.text
        assert bulk.json()["accepted"] == 1


async def test_a_nul_in_a_later_chunk_is_refused(small: RunningServer) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "ok'
        yield b"\x00"
        yield b'"}'

    async with small.client() as admin:
        response = await admin.post(
            "/v1/sessions", content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_characters"


@pytest.mark.parametrize(
    "signature",
    [b"sha256=\xe9\xe9", ("sha256=" + "é" * 64).encode(), b"sha256=", b"nonsense"],
)
async def test_an_odd_signature_is_a_401_not_a_500(small: RunningServer, signature: bytes) -> None:
    async with small.client(key=None) as client:
        response = await client.post(
            "/v1/ingest/cloud",
            content=b'{"object": "whatsapp_business_account", "entry": []}',
            headers={"x-hub-signature-256": signature, "content-type": "application/json"},
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"


async def test_an_unsigned_body_is_not_parsed(small: RunningServer) -> None:
    """A signature no app secret made is refused before the body is looked at: broken JSON
    gets the same 401 as a valid notification."""
    async with small.client() as admin:
        created = await admin.post(
            "/v1/sessions",
            json={
                "name": "cloud",
                "transport": "cloud",
                "start": False,
                "config": {
                    "phone_number_id": "123456",
                    "access_token": "token-12345",
                    "app_secret": "the-secret",
                    "verify_token": "verify-12345",
                },
            },
        )
        assert created.status_code == 201, created.text
    body = b"{not json"
    wrong = "sha256=" + hmac.new(b"other", body, hashlib.sha256).hexdigest()
    right = "sha256=" + hmac.new(b"the-secret", body, hashlib.sha256).hexdigest()
    async with small.client(key=None) as client:
        refused = await client.post(
            "/v1/ingest/cloud", content=body, headers={"x-hub-signature-256": wrong}
        )
        parsed = await client.post(
            "/v1/ingest/cloud", content=body, headers={"x-hub-signature-256": right}
        )
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_signature"
    assert parsed.status_code == 400
    assert parsed.json()["error"]["code"] == "invalid_json"
