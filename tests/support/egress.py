"""Keep a test's own process on this machine: no connection or name lookup beyond loopback.

A test that lets a fuzzer choose webhook, media, brain and Evolution URLs must not
let the server under test reach them: the machine has no internet, and no test
may send traffic off it. Inside :func:`loopback_only`, every ``connect`` of an
inet socket to a non-loopback address and every lookup of a name other than
``localhost`` fails as the network would (``ECONNREFUSED``, ``EAI_NONAME``), so
the server meets the failure it handles anyway. Unix sockets are untouched.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%")[0]
    if name.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@contextmanager
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse egress while inside; yields the refused destinations (for the test to see)."""
    refused: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def allowed(sock: socket.socket, address: Any) -> bool:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return True
        ok = _loopback(address[0])
        if not ok:
            refused.append(f"{address[0]}:{address[1]}")
        return ok

    def connect(sock: socket.socket, address: Any) -> None:
        if not allowed(sock, address):
            raise ConnectionRefusedError(errno.ECONNREFUSED, "egress refused by the test")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if not allowed(sock, address):
            return errno.ECONNREFUSED
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _loopback(host):
            try:
                ipaddress.ip_address(str(host).strip("[]"))
            except ValueError:
                refused.append(str(host))
                raise socket.gaierror(
                    socket.EAI_NONAME, "name lookup refused by the test"
                ) from None
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    try:
        yield refused
    finally:
        monkeypatch.undo()
