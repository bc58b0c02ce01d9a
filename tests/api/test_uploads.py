"""Sending a file as ``multipart/form-data`` (a ``file`` part beside the message's fields),
on the simulator and both databases: the file streams to the media store and is sent
like media given in base64."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import connected_session, wait_sent
from tests.support.server import RunningServer, make_settings, running_server
from wagate.domain import FakeClock

TO = "5511988887777"
LIMIT = 64 * 1024
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40  # NULs and all: a file is bytes


@pytest.fixture
async def server(db_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[RunningServer]:
    settings = make_settings(db_url, tmp_path / "data", media_max_bytes=LIMIT)
    async with running_server(settings, clock) as running:
        yield running


async def _upload(
    admin: httpx.AsyncClient, sid: str, data: dict[str, str], file: tuple[str, bytes, str], **kw
) -> httpx.Response:
    return await admin.post(f"/v1/sessions/{sid}/messages", data=data, files={"file": file}, **kw)


async def test_a_file_is_sent_from_a_multipart_request(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    answer = await _upload(
        admin, sid, {"to": TO, "caption": "the invoice"}, ("photo.jpg", PHOTO, "image/jpeg")
    )
    assert answer.status_code == 202, answer.text
    message = answer.json()
    assert message["type"] == "image"  # from the file's content type
    assert message["text"] == "the invoice"
    assert message["media"]["size"] == len(PHOTO)
    assert message["media"]["sha256"] == hashlib.sha256(PHOTO).hexdigest()
    assert message["media"]["file_name"] == "photo.jpg"
    await wait_sent(admin, message["id"])
    [reached] = server.network.sent(sid)
    assert (reached.type, reached.text) == ("image", "the invoice")
    stored = await admin.get(f"/v1/messages/{message['id']}/media")
    assert stored.content == PHOTO


async def test_fields_may_come_as_one_json_part_and_objects_as_json(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    whole = json.dumps({"to": TO, "type": "document", "media": {"file_name": "q3.pdf"}})
    answer = await _upload(
        admin, sid, {"message": whole, "caption": "Q3"}, ("ignored.bin", b"%PDF-1.7", "")
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["type"] == "document"
    assert answer.json()["media"]["file_name"] == "q3.pdf"  # the JSON names it
    assert answer.json()["text"] == "Q3"
    voice = await _upload(
        admin, sid, {"to": TO, "type": "voice"}, ("note.ogg", b"OggS" + b"\x00" * 64, "audio/ogg")
    )
    assert voice.json()["type"] == "voice"


async def test_an_upload_is_held_to_the_media_limit(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    over = await _upload(admin, sid, {"to": TO}, ("big.jpg", b"\xff" * (LIMIT + 1), "image/jpeg"))
    assert over.status_code == 422, over.text
    assert over.json()["error"]["code"] == "media_too_large"
    way_over = await _upload(
        admin, sid, {"to": TO}, ("huge.jpg", b"\xff" * (LIMIT * 3), "image/jpeg")
    )
    assert way_over.status_code == 413
    assert way_over.json()["error"]["code"] == "payload_too_large"
    assert server.network.sent(sid) == []


async def test_an_idempotency_key_replays_the_same_file_only(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    key = {"idempotency-key": "upload-1"}
    first = await _upload(admin, sid, {"to": TO}, ("a.jpg", PHOTO, "image/jpeg"), headers=key)
    again = await _upload(admin, sid, {"to": TO}, ("a.jpg", PHOTO, "image/jpeg"), headers=key)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = await _upload(
        admin, sid, {"to": TO}, ("a.jpg", PHOTO + b"!", "image/jpeg"), headers=key
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


async def test_bad_uploads_are_clear_errors(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    url = f"/v1/sessions/{sid}/messages"
    as_json = await admin.post(url, json={"to": TO, "type": "image", "media": {"upload": True}})
    assert as_json.status_code == 422
    no_file = await admin.post(url, data={"to": TO, "caption": "where is it?"})
    assert no_file.status_code == 422
    wrong_part = await admin.post(url, data={"to": TO}, files={"photo": ("a.jpg", PHOTO)})
    assert wrong_part.status_code == 422
    bad_object = await _upload(
        admin, sid, {"to": TO, "location": "{not json"}, ("a.jpg", PHOTO, "image/jpeg")
    )
    assert bad_object.json()["error"]["code"] == "invalid_json"
    nul = await _upload(admin, sid, {"to": TO, "caption": "a\x00b"}, ("a.jpg", PHOTO, "image/jpeg"))
    assert nul.status_code == 422
    no_to = await _upload(admin, sid, {"caption": "x"}, ("a.jpg", PHOTO, "image/jpeg"))
    assert no_to.json()["error"]["code"] == "validation_error"
