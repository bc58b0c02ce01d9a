"""Media a receiver can open: signed, expiring links in webhooks and the live stream, a
receiver's own key never needed; and the file inline for webhooks that ask for it."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.api.helpers import connected_session, inbound
from tests.events.support import Receiver, create_webhook, event_settings, settle, verify
from tests.support.server import RunningServer, free_port, running_server
from wagate.domain import FakeClock
from wagate.store.crypto import SecretBox
from wagate.store.media_links import MediaLinks

PICTURE = bytes(range(256)) * 40  # 10,240 bytes


def _links(clock: FakeClock, key_id: int = 1, public_url: str | None = None) -> MediaLinks:
    box = SecretBox(b"k" * 32)
    return MediaLinks(box, key_id=key_id, ttl_s=3600, public_url=public_url, now=clock.now)


def _parts(url: str) -> tuple[str, int, int, str]:
    split = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    return split.path.rsplit("/", 1)[1], int(query["expires"]), int(query["kid"]), query["sig"]


def test_a_link_opens_its_own_message_until_it_expires() -> None:
    clock = FakeClock(datetime(2026, 12, 6, tzinfo=UTC))
    links = _links(clock, public_url="https://wa.example.com/")
    url = links.url("msg_1")
    assert url.startswith("https://wa.example.com/v1/media/msg_1?expires=")
    message, expires, kid, sig = _parts(url)
    assert links.verify(message, expires, kid, sig)
    assert not links.verify("msg_2", expires, kid, sig)  # another message
    assert not links.verify(message, expires + 1, kid, sig)  # a longer life
    assert not links.verify(message, expires, kid, sig[:-2] + "AA")
    clock._now += timedelta(seconds=3601)
    assert not links.verify(message, expires, kid, sig)  # expired


def test_rotating_the_key_id_keeps_the_previous_links_and_ends_older_ones() -> None:
    clock = FakeClock(datetime(2026, 12, 6, tzinfo=UTC))
    made_with_1 = _parts(_links(clock, key_id=1).url("msg_1"))
    assert _links(clock, key_id=2).verify(*made_with_1)  # one step: still open
    assert not _links(clock, key_id=3).verify(*made_with_1)  # two steps: ended


def test_only_keyed_media_paths_are_rewritten_however_deep() -> None:
    links = _links(FakeClock())
    data = {
        "text": "/v1/messages/msg_1/media",  # not a url field
        "media": {"url": "/v1/messages/msg_1/media", "size": 3},
        "quoted": [{"media": {"url": "https://elsewhere.example/x.jpg"}}],
    }
    signed = links.sign_data(data)
    assert signed["media"]["url"].startswith("/v1/media/msg_1?expires=")
    assert signed["text"] == data["text"]
    assert signed["quoted"] is data["quoted"]  # untouched parts are not copied
    assert data["media"]["url"] == "/v1/messages/msg_1/media"  # the stored event is kept
    assert links.sign_data({"type": "text"}) == {"type": "text"}


async def _media_message(server: RunningServer, admin: httpx.AsyncClient) -> str:
    session = await connected_session(server, admin)
    picture = base64.b64encode(PICTURE).decode()
    return await inbound(
        admin,
        session["id"],
        **{
            "from": "5511988887777",
            "type": "image",
            "media": {"base64": picture, "mime_type": "image/jpeg"},
        },
    )


async def test_a_webhook_carries_a_link_that_opens_without_a_key_then_expires(
    db_url: str, tmp_path: Path, clock: FakeClock, receiver: Receiver
) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    settings = event_settings(
        db_url, tmp_path / "data", port=port, public_url=public, media_link_ttl_s=600
    )
    async with running_server(settings, clock, port=port) as server, server.client() as admin:
        hook = await create_webhook(admin, receiver.url, events=["message.received"])
        await _media_message(server, admin)
        await settle(lambda: _count(receiver, 1))
        payload = verify(hook["secret"], receiver.received[0])
        url = payload["data"]["media"]["url"]
        assert url.startswith(f"{public}/v1/media/{payload['data']['id']}?expires=")
        assert "base64" not in payload["data"]["media"]

        async with httpx.AsyncClient() as anyone:  # no key at all
            opened = await anyone.get(url)
            assert opened.status_code == 200
            assert opened.content == PICTURE
            assert opened.headers["content-type"] == "image/jpeg"
            forged = await anyone.get(url.replace("sig=", "sig=x"))
            assert (forged.status_code, forged.json()["error"]["code"]) == (403, "invalid_link")
            keyed = await anyone.get(f"{public}/v1/messages/{payload['data']['id']}/media")
            assert keyed.status_code == 401  # the stored path still needs a key
            await server.advance(601)
            expired = await anyone.get(url)
            assert (expired.status_code, expired.json()["error"]["code"]) == (403, "invalid_link")

        stored = (await admin.get("/v1/events", params={"type": "message.received"})).json()
        assert stored["items"][-1]["data"]["media"]["url"].startswith("/v1/messages/")


async def test_a_webhook_may_take_small_files_inline(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver, other_receiver: Receiver
) -> None:
    big_enough = await create_webhook(admin, receiver.url, inline_media_max_bytes=len(PICTURE))
    too_small = await create_webhook(admin, other_receiver.url, inline_media_max_bytes=1024)
    assert big_enough["inline_media_max_bytes"] == len(PICTURE)
    await _media_message(server, admin)
    await settle(lambda: _count(receiver, 1, "message.received"))
    await settle(lambda: _count(other_receiver, 1, "message.received"))
    inline = _of_type(receiver, "message.received", big_enough["secret"])
    assert base64.b64decode(inline["data"]["media"]["base64"]) == PICTURE
    assert inline["data"]["media"]["url"].startswith("/v1/media/")
    linked = _of_type(other_receiver, "message.received", too_small["secret"])
    assert "base64" not in linked["data"]["media"]


async def _count(receiver: Receiver, count: int, type_: str | None = None) -> bool:
    return len([r for r in receiver.received if type_ is None or type_ in r.body.decode()]) >= count


def _of_type(receiver: Receiver, type_: str, secret: str) -> dict:  # type: ignore[type-arg]
    for got in receiver.received:
        payload = verify(secret, got)
        if payload["type"] == type_:
            return payload
    raise AssertionError(f"no {type_} received")
