"""Outgoing-request safety: refuse URLs that point inside the network unless allowed.

Webhook and media URLs come from API callers. Without this check a caller
could make wagate fetch cloud metadata or internal services (SSRF).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from wagate.domain.errors import UnsafeUrl


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def is_private_host(host: str) -> bool:
    """Whether a host is written as a loopback, private or link-local address (no DNS
    lookup: for checks at validation time; :func:`ensure_public_url` resolves names)."""
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
    """Raise :class:`UnsafeUrl` if ``url`` resolves to a loopback, private or link-local address."""
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
