"""The HTTP client given to the OpenAI and Anthropic SDKs: public addresses only.

The SDKs are built on ``httpx2`` (a fork of httpx with its own httpcore2), so
the connect-time check of :mod:`wagate.domain.public_net` is plugged into
httpcore2's network backend here. The base URL is a tenant's: connections go
to public addresses only, checked when connecting, and redirects are not
followed. Imported only with the SDKs (see ``brains/__init__.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2

from wagate.domain import UnsafeUrl
from wagate.domain.public_net import connect_public


class PublicOnlyBackend(httpcore2.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream: httpcore2.AsyncNetworkStream = await connect_public(
            self._inner, httpcore2, host, port, timeout, local_address, socket_options
        )
        return stream

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        raise UnsafeUrl("connections to Unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def sdk_http_client(*, allow_private: bool) -> httpx2.AsyncClient:
    limits = httpx2.Limits(max_connections=100, max_keepalive_connections=100)
    transport = httpx2.AsyncHTTPTransport(limits=limits, trust_env=False)
    if not allow_private:  # httpx2 has no parameter for it: the pool gets our backend
        transport._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PublicOnlyBackend(),
        )
    return httpx2.AsyncClient(transport=transport, follow_redirects=False)
