"""httpx clients for URLs that tenants give: public addresses only, checked when connecting.

Checking a URL's host before a request (:func:`wagate.domain.urls.ensure_public_url`)
is not enough: the name can resolve to a public address for the check and to
169.254.169.254 for the connection a moment later (DNS rebinding). Here the
check sits in httpcore's network backend, where the connection is made: the
name is resolved once, every address it resolves to must be public
(:func:`~wagate.domain.urls.is_public_address`), and the connection goes to
one of those very addresses. TLS still verifies the certificate against the
URL's host name.

Used for media downloads, voice audio, the OpenAI and Anthropic clients and
Evolution API calls (webhooks and the webhook brain use aiohttp with the same
rule: ``events.PublicHttp``). A caller may follow redirects (media downloads do):
every hop's connection goes through the same check. Environment proxies are not
used (the check would see the proxy).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from wagate.domain.errors import UnsafeUrl
from wagate.domain.urls import is_public_address

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)


class PublicOnlyBackend:
    """A network backend of ``core`` (httpcore, or its fork httpcore2 that the OpenAI and
    Anthropic SDKs use) that connects only to public addresses; :class:`UnsafeUrl` else."""

    def __init__(self, core: Any) -> None:
        self.core = core
        self._inner = core.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        return await connect_public(
            self._inner, self.core, host, port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> Any:
        raise UnsafeUrl("connections to Unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def public_pool(core: Any, ssl_context: Any, limits: Any) -> Any:
    """A connection pool of ``core`` with the options of ``limits`` on
    :class:`PublicOnlyBackend`. httpx (and httpx2) have no parameter for the network
    backend, so their transport's pool is replaced by this one
    (tests/domain/test_public_net.py holds this)."""
    return core.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        http1=True,
        http2=False,
        network_backend=PublicOnlyBackend(core),
    )


async def connect_public(
    inner: Any,
    core: Any,
    host: str,
    port: int,
    timeout: float | None,
    local_address: str | None,
    socket_options: Iterable[Any] | None,
) -> Any:
    """Resolve ``host``, refuse it unless every address is public, connect to one of those
    addresses with ``inner`` (a network backend of ``core``)."""
    try:
        addresses = await public_addresses(host, port)
    except OSError as exc:
        raise core.ConnectError(f"cannot resolve {host!r}: {exc}") from None
    error: Exception | None = None
    for address in addresses:
        try:
            return await inner.connect_tcp(
                address,
                port,
                timeout=timeout,
                local_address=local_address,
                socket_options=socket_options,
            )
        except (core.ConnectError, core.ConnectTimeout) as exc:
            error = exc
    assert error is not None
    raise error


async def public_addresses(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, if every one is public; else :class:`UnsafeUrl`
    (:class:`OSError` when it does not resolve)."""
    name = host.strip("[]")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(name, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    else:
        addresses = [name]
    for address in addresses:
        if not is_public_address(address):
            raise UnsafeUrl(
                f"{name!r} resolves to {address}, which is not a public address; set "
                "WAGATE_ALLOW_PRIVATE_URLS=true to allow it"
            )
    return addresses


class PublicTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, its connection pool on :class:`PublicOnlyBackend`."""

    def __init__(self, limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = public_pool(httpcore, httpx.create_ssl_context(), limits)


def outbound_transport(
    *, allow_private: bool, limits: httpx.Limits = DEFAULT_LIMITS
) -> httpx.AsyncBaseTransport:
    """The transport for a client of tenant-given URLs: public-only unless allowed."""
    if allow_private:
        return httpx.AsyncHTTPTransport(limits=limits)
    return PublicTransport(limits)
