"""A real `wagate serve` ends its open event streams cleanly and at once on SIGTERM.

uvicorn waits for open responses before it shuts the application down and
does not tell streaming responses it is stopping; without the app's signal
hook an open stream would hold the server until the graceful-shutdown
timeout and then be cut.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.events.test_stream import follow
from tests.support.process import ServerProcess, server_env

pytestmark = pytest.mark.slow

ADMIN = "wga_stream_shutdown_key_0123456789abcdef"


async def test_sigterm_ends_open_streams_cleanly(db_url: str, tmp_path: Path) -> None:
    env = server_env(
        db_url, tmp_path / "data", WAGATE_API_KEY=ADMIN, WAGATE_SHUTDOWN_TIMEOUT_S="20"
    )
    server = ServerProcess(env, tmp_path / "server.log")
    server.start()
    try:
        await server.wait_ready()
        headers = {"authorization": f"Bearer {ADMIN}"}
        async with (
            httpx.AsyncClient(base_url=server.url, headers=headers) as client,
            follow(client) as stream,
        ):
            for _ in range(200):
                if stream.retry is not None:
                    break
                await asyncio.sleep(0.02)
            assert stream.retry is not None, "the stream did not open"
            started = time.monotonic()
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(stream.ended.wait(), 10)
            assert stream.error is None  # the response was completed, not cut
            await asyncio.to_thread(server.process.wait, 30)
            elapsed = time.monotonic() - started
        assert server.process.returncode in (0, -signal.SIGTERM)
        assert elapsed < 10  # not the 25 s graceful-shutdown timeout
        assert "wagate stopped" in server.log.read_text()
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()
