"""A session dials WhatsApp through its proxy: the real engine (neonize's Go library) in a
real engine host, against a tiny proxy on 127.0.0.1 that records what it is asked and hangs
up. The session fails cleanly and its engine host stays alive. Nothing leaves the machine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.transports.whatsmeow.support import HOST_ENV, EventLog
from wagate.domain import Disconnected, FakeClock, UnsupportedByTransport
from wagate.transports.base import TransportContext
from wagate.transports.whatsmeow import EngineSupervisor, SupervisorSettings


class RecordingProxy:
    """Accepts connections, keeps the first bytes of each, and closes them."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests.append(await reader.read(1024))
        writer.close()


@pytest.fixture
async def supervisor(tmp_path: Path) -> AsyncIterator[EngineSupervisor]:
    supervisor = EngineSupervisor(FakeClock(), tmp_path, SupervisorSettings(env=HOST_ENV))
    try:
        yield supervisor
    finally:
        await supervisor.close()


@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_session_dials_through_its_proxy_and_fails_cleanly(
    supervisor: EngineSupervisor, tmp_path: Path, scheme: str
) -> None:
    async with RecordingProxy() as proxy:
        log = EventLog()
        context = TransportContext(
            session_id=f"ses_{scheme}",
            session_name=scheme,
            config={},
            credentials=None,
            data_dir=tmp_path,
            clock=supervisor.clock,
            sink=log,
            proxy_url=f"{scheme}://127.0.0.1:{proxy.port}",
        )
        transport = supervisor.create_transport(context)
        await transport.connect()
        (failure,) = await log.wait_for(Disconnected, timeout=30)
    assert failure.code == 408
    assert failure.reason.startswith("could not connect")
    if scheme == "http":
        assert proxy.requests[0].startswith(b"CONNECT web.whatsapp.com:443 HTTP/1.1\r\n")
    else:
        assert proxy.requests[0][:1] == b"\x05"  # a SOCKS5 greeting
    # the engine host survived the failure and still answers
    host = transport.host
    assert host is not None
    assert host.alive
    result, _ = await host.request("ping")
    assert result["pid"] == host.pid
    with pytest.raises(UnsupportedByTransport):  # a production host refuses crash drills
        await transport.test_command("abort")
    assert host.alive
    # the real device store: 0700 directory, 0600 files
    store = supervisor.store_dir(f"ses_{scheme}")
    assert store.stat().st_mode & 0o777 == 0o700
    files = list(store.iterdir())
    assert files
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    await transport.close()
