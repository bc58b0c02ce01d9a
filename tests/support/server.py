"""A real wagate server for tests: uvicorn on a loopback port inside the test's event loop.

Running it in-process keeps the injected clock and the simulator within
reach of the test, while every request still crosses a real socket.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
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
