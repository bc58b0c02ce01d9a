"""A real wagate server for tests: uvicorn on a loopback port inside the test's event loop.

Running it in-process keeps the injected clock and the simulator within
reach of the test, while every request still crosses a real socket.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from wagate.app import Services, create_app
from wagate.config import Settings
from wagate.domain import Clock, FakeClock
from wagate.transports.simulator import SimulatorNetwork

ADMIN_KEY = "wga_test_admin_key_0123456789abcdef"


def _port_block() -> Iterator[int]:
    """This test process's own ports, each handed out once, below the ephemeral range.

    A port that is picked now and bound later (a server process started, stopped and
    started again on it) must not be taken in between. Ports that the kernel hands
    out (``bind(0)``, outgoing connections) come from the ephemeral range, so ours
    are below it; and each xdist worker has its own block of them."""
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    size = (ephemeral_low - _LOWEST_PORT) // max(workers, 1)
    start = _LOWEST_PORT + (worker % max(workers, 1)) * size
    return itertools.cycle(range(start, start + size))


_LOWEST_PORT = 10_000
_ports: Iterator[int] | None = None


def free_port() -> int:
    """A loopback port nothing listens on, not handed out before by this process."""
    global _ports
    if _ports is None:
        _ports = _port_block()
    for port in _ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # someone else's (another program on this machine)
            return port
    raise AssertionError("unreachable: the port cycle is endless")


def make_settings(db_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": db_url,
        "api_key": ADMIN_KEY,
        "allow_private_urls": True,
        "log_level": "warning",
        "sender_poll_s": 0.2,
        "pacing": "instant",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class RunningServer:
    base_url: str
    services: Services
    clock: Clock
    crashes: list[tuple[str, BaseException]]

    @property
    def network(self) -> SimulatorNetwork:
        assert self.services.simulator is not None
        return self.services.simulator

    def client(self, key: str | None = ADMIN_KEY) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=10.0)

    async def advance(self, seconds: float) -> None:
        assert isinstance(self.clock, FakeClock), "advance() needs a FakeClock"
        await self.clock.advance(seconds)


@asynccontextmanager
async def running_server(
    settings: Settings, clock: Clock, *, port: int | None = None
) -> AsyncIterator[RunningServer]:
    crashes: list[tuple[str, BaseException]] = []
    app = create_app(
        settings,
        clock=clock,
        on_task_crash=lambda n, e: crashes.append((n, e)),
        configure_logs=False,
    )
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # uvicorn closes an idle kept-alive connection after 5 s. The client and the
        # server share one loop here: if the process is held up (a stalled machine)
        # between a response and the next request on that connection, the server's
        # timer fires first and the request meets a closed socket.
        timeout_keep_alive=120,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
    task = asyncio.get_running_loop().create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    assert server.started, "server did not start"
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", app.state.services, clock, crashes)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)
    assert not crashes, f"background tasks crashed: {crashes}"


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 10.0, interval: float = 0.02
) -> Any:
    """Retry ``check`` until it returns a truthy value without raising; return that value."""
    deadline = asyncio.get_running_loop().time() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = await check()
            if result:
                return result
        except AssertionError as exc:
            last_error = exc
        if asyncio.get_running_loop().time() > deadline:
            if last_error is not None:
                raise last_error
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
