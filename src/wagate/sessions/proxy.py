"""Whether a session's proxy answers: shown in the session's health.

A proxy that is down is the most common reason a session on a proxy cannot
connect, and the engine's own error ("dial tcp: i/o timeout") rarely says so.
The probe opens a TCP connection to the proxy; for SOCKS5 it also does the
method negotiation, which tells "listening" apart from "speaks SOCKS5 and
accepts our kind of authentication". It never asks the proxy to connect
anywhere, so a probe sends no traffic beyond the proxy itself. Results are
cached per URL for ``cache_s`` of the injected clock.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from wagate.domain import Clock, UnsafeUrl
from wagate.domain.public_net import public_addresses
from wagate.domain.urls import redact_credentials as redact

ProxyState = Literal["reachable", "unreachable", "rejected"]

_SOCKS_VERSION = 5
_NO_AUTH, _USER_PASS, _NO_ACCEPTABLE = 0x00, 0x02, 0xFF


@dataclass(frozen=True, slots=True)
class ProxyStatus:
    url: str  # without credentials
    state: ProxyState
    checked_at: datetime
    latency_ms: float | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "state": self.state,
            "checked_at": self.checked_at.isoformat().replace("+00:00", "Z"),
            "latency_ms": self.latency_ms,
            "error": self.error,
        }


class ProxyProbe:
    def __init__(
        self,
        clock: Clock,
        *,
        allow_private: bool,
        timeout_s: float = 3.0,
        cache_s: float = 30.0,
        max_cached: int = 10_000,
    ) -> None:
        self.clock = clock
        self.allow_private = allow_private
        self.max_cached = max_cached
        self.timeout_s = timeout_s
        self.cache_s = cache_s
        self._cache: dict[tuple[str, bool], ProxyStatus] = {}

    async def check(self, url: str, *, trusted: bool = False) -> ProxyStatus:
        """Probe ``url`` (cached). Unless ``trusted`` (the operator's default proxy) or private
        URLs are allowed, only a public address is connected to."""
        allow_private = trusted or self.allow_private
        key = (url, allow_private)
        cached = self._cache.get(key)
        now = self.clock.now()
        if cached is not None and now - cached.checked_at < timedelta(seconds=self.cache_s):
            return cached
        status = await self._probe(url, now, allow_private)
        if len(self._cache) >= self.max_cached:  # bounded: URLs are tenants' strings
            self._cache.clear()
        self._cache[key] = status
        return status

    async def _probe(self, url: str, now: datetime, allow_private: bool) -> ProxyStatus:
        parts = urlsplit(url)
        shown = redact(url)
        default_port = 1080 if parts.scheme.startswith("socks") else 8080
        try:
            port = parts.port or default_port
        except ValueError:
            return ProxyStatus(shown, "unreachable", now, error="invalid port")
        if not parts.hostname:
            return ProxyStatus(shown, "unreachable", now, error="no host in the proxy URL")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                host = parts.hostname
                if not allow_private:  # a tenant's URL: no probing inside the network
                    host = (await public_addresses(host, port))[0]
                reader, writer = await asyncio.open_connection(host, port)
                try:
                    if parts.scheme.startswith("socks5"):
                        refused = await _socks5_negotiation(reader, writer, bool(parts.username))
                        if refused:
                            return ProxyStatus(shown, "rejected", now, error=refused)
                finally:
                    writer.close()
        except UnsafeUrl as exc:
            return ProxyStatus(shown, "unreachable", now, error=exc.message)
        except TimeoutError:
            return ProxyStatus(shown, "unreachable", now, error=f"timeout after {self.timeout_s} s")
        except (OSError, asyncio.IncompleteReadError) as exc:
            return ProxyStatus(shown, "unreachable", now, error=_oserror(exc))
        latency = round((time.perf_counter() - started) * 1000, 1)
        return ProxyStatus(shown, "reachable", now, latency_ms=latency)


async def _socks5_negotiation(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, with_password: bool
) -> str | None:
    """Offer the authentication methods we can use; None when the proxy accepts one."""
    methods = [_NO_AUTH, _USER_PASS] if with_password else [_NO_AUTH]
    writer.write(bytes([_SOCKS_VERSION, len(methods), *methods]))
    await writer.drain()
    version, method = await reader.readexactly(2)
    if version != _SOCKS_VERSION:
        return f"not a SOCKS5 proxy (version byte {version})"
    if method == _NO_ACCEPTABLE or method not in methods:
        return "the proxy accepts none of our authentication methods"
    return None


def _oserror(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return "the proxy closed the connection"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
