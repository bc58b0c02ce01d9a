"""Outgoing requests to tenant URLs reach public addresses only, checked when connecting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from wagate.domain import PermanentSendError, UnsafeUrl
from wagate.domain.public_net import PublicTransport, outbound_transport, public_addresses
from wagate.domain.urls import ensure_public_url, is_public_address
from wagate.engine.brains.sdk_http import sdk_http_client
from wagate.outbox.media import MediaLoader
from wagate.store.media import LocalMediaStore
from wagate.store.models import Message


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "100.100.100.200",  # a cloud metadata address inside it
        "169.254.169.254",
        "127.0.0.1",
        "10.1.2.3",
        "192.0.0.170",
        "198.18.0.1",
        "240.0.0.1",
        "0.0.0.0",
        "224.0.0.1",  # multicast is "global" to ipaddress
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "2002:a9fe:a9fe::1",  # 6to4 wrapping 169.254.169.254
        "2002:6440:0001::1",  # 6to4 wrapping 100.64.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    ],
)
def test_addresses_that_are_not_global_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "2002:0808:0808::1"]
)
def test_global_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


async def test_the_check_before_a_request_refuses_shared_address_space() -> None:
    with pytest.raises(UnsafeUrl):
        await ensure_public_url("http://100.100.100.200/latest/meta-data", allow_private=False)
    await ensure_public_url("http://100.100.100.200/", allow_private=True)


async def test_a_name_is_refused_when_any_of_its_addresses_is_not_public() -> None:
    with pytest.raises(UnsafeUrl):
        await public_addresses("localhost", 80)
    assert await public_addresses("8.8.8.8", 53) == ["8.8.8.8"]


@pytest.fixture
async def local_server() -> AsyncIterator[str]:
    """A real HTTP server on loopback: what an attacker would have wagate reach."""

    async def secret(request: web.Request) -> web.Response:
        return web.Response(text="internal")

    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.1:1/")

    async def to_secret(request: web.Request) -> web.Response:
        raise web.HTTPFound("/secret")

    app = web.Application()
    app.router.add_get("/secret", secret)
    app.router.add_get("/hop", hop)
    app.router.add_get("/to-secret", to_secret)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"127.0.0.1:{port}"
    await runner.cleanup()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_the_public_transport_refuses_when_connecting(local_server: str, host: str) -> None:
    """No check before the request here: the transport itself refuses, when it connects
    (a name resolved at connect time, so a rebinding name gains nothing)."""
    port = local_server.split(":")[1]
    async with httpx.AsyncClient(transport=PublicTransport()) as client:
        with pytest.raises(UnsafeUrl):
            await client.get(f"http://{host}:{port}/secret")


async def test_allowing_private_urls_reaches_them(local_server: str) -> None:
    transport = outbound_transport(allow_private=True)
    async with httpx.AsyncClient(transport=transport) as client:
        answer = await client.get(f"http://{local_server}/secret")
    assert answer.text == "internal"


async def test_the_sdk_client_refuses_private_addresses_and_follows_no_redirect(
    local_server: str,
) -> None:
    client = sdk_http_client(allow_private=False)
    with pytest.raises(UnsafeUrl):
        await client.get(f"http://{local_server}/secret")
    await client.aclose()
    allowed = sdk_http_client(allow_private=True)
    assert (await allowed.get(f"http://{local_server}/secret")).text == "internal"
    assert (await allowed.get(f"http://{local_server}/hop")).status_code == 302
    await allowed.aclose()


async def test_media_whose_host_turns_private_fails_the_message_for_good(
    local_server: str, tmp_path: Path
) -> None:
    """The check before the download is skipped here (as if the name had resolved to a
    public address then): the connection itself is refused, and the send fails for good."""
    loader = MediaLoader(
        LocalMediaStore(tmp_path),
        httpx.AsyncClient(transport=PublicTransport()),
        max_bytes=1024,
        allow_private_urls=True,  # no check before: only the one at connect time is left
    )
    message = Message(
        id="msg_1",
        session_id="ses_1",
        media={"mime_type": "image/jpeg", "source_url": f"http://{local_server}/secret"},
    )
    with pytest.raises(PermanentSendError) as refused:
        await loader.load(message)
    assert refused.value.code == "unsafe_url"
    assert not (tmp_path / "media").exists()


class _OnlyTheFirstHopIsPublic(httpx.AsyncBaseTransport):
    """As if ``/to-secret`` were on a public host: it connects; any other URL goes through
    the public-only transport (and, on loopback, is refused)."""

    def __init__(self) -> None:
        self.plain = httpx.AsyncHTTPTransport()
        self.public = PublicTransport()

    async def aclose(self) -> None:
        await self.plain.aclose()
        await self.public.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        through = self.plain if request.url.path == "/to-secret" else self.public
        return await through.handle_async_request(request)


async def test_media_behind_a_redirect_is_fetched_and_every_hop_is_checked(
    local_server: str, tmp_path: Path
) -> None:
    """Signed storage links and Chatwoot's attachments redirect: the download follows,
    and each hop connects through the same check, so a redirect to a private address is
    refused like a link to one."""
    message = Message(
        id="msg_1",
        session_id="ses_1",
        media={"mime_type": "text/plain", "source_url": f"http://{local_server}/to-secret"},
    )
    async with (
        httpx.AsyncClient(transport=outbound_transport(allow_private=True)) as plain,
        httpx.AsyncClient(transport=_OnlyTheFirstHopIsPublic()) as first_hop_only,
    ):
        allowed = MediaLoader(
            LocalMediaStore(tmp_path / "allowed"),
            plain,
            max_bytes=1024,
            allow_private_urls=True,
        )
        assert (await allowed.load(message)).data == b"internal"  # type: ignore[union-attr]

        public_only = MediaLoader(
            LocalMediaStore(tmp_path / "public"),
            first_hop_only,
            max_bytes=1024,
            allow_private_urls=True,  # no check before: the hops' checks are what is left
        )
        with pytest.raises(PermanentSendError) as refused:
            await public_only.load(message)
        assert refused.value.code == "unsafe_url"
