"""Outgoing-request safety: refuse URLs that point inside the network unless allowed.

Webhook and media URLs come from API callers. Without this check a caller
could make wagate fetch cloud metadata or internal services (SSRF).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

from wagate.domain.errors import UnsafeUrl

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 addresses reached through a NAT64 gateway


def is_public_address(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is one the whole internet can reach (``is_global``, not multicast).

    Not global: loopback, private, link-local (169.254.169.254), shared address
    space (100.64.0.0/10, which holds a cloud metadata address), reserved,
    unspecified. An IPv6 address that carries an IPv4 one (mapped, 6to4, NAT64)
    is public only if that IPv4 address is.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    return ip.is_global and not ip.is_multicast


def _is_private(address: str) -> bool:
    return not is_public_address(address)


def is_private_host(host: str) -> bool:
    """Whether a host is written as an address that is not public, or is ``localhost`` (no
    DNS lookup: for checks at validation time; :func:`ensure_public_url` resolves names)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return _is_private(name)
    except ValueError:  # a name, not an address
        return False


def check_url_syntax(url: str) -> str:
    """The URL's host, if the URL is an absolute http(s) URL; else :class:`UnsafeUrl`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl(f"{url!r} is not an absolute http or https URL", code="invalid_url")
    return parts.hostname


async def ensure_public_url(url: str, *, allow_private: bool) -> None:
    """Raise :class:`UnsafeUrl` if ``url`` resolves to an address that is not public.

    A check before the request cannot stop a name that resolves differently when
    the request connects (DNS rebinding): clients of tenant URLs also check at
    connect time (``events.PublicHttp``, :mod:`wagate.domain.public_net`)."""
    host = check_url_syntax(url)
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeUrl(f"cannot resolve {host!r}: {exc}", code="unresolvable_url") from None
    for info in infos:
        address = str(info[4][0])
        if _is_private(address):
            raise UnsafeUrl(
                f"{url!r} points at the private address {address}; set "
                "WAGATE_ALLOW_PRIVATE_URLS=true to allow it"
            )


def redact_credentials(url: str) -> str:
    """The URL without its user name and password (how a proxy URL is ever shown)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
