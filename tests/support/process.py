"""A real `wagate serve` process for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.server import free_port


class ServerProcess:
    def __init__(self, env: dict[str, str], log: Path, command: list[str] | None = None) -> None:
        self.env = env
        self.log = log
        self.command = command or [sys.executable, "-m", "wagate", "serve"]
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{env['WAGATE_PORT']}"

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self, timeout_s: float = 15.0) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(int(timeout_s / 0.05)):
                assert self.process is not None
                assert self.process.poll() is None, self.log.read_text()
                try:
                    if (await client.get(f"{self.url}/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        # A server that never became ready is not left behind for the tests after this.
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)
        raise AssertionError(f"server did not become ready:\n{self.log.read_text()}")

    def stop(self) -> None:
        """SIGTERM, then a clean exit (uvicorn re-raises the signal once it has shut down)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) in (0, -signal.SIGTERM)
        assert self.log.read_text().rstrip().splitlines()[-1].find("wagate stopped") >= 0

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as when the machine loses the process."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)


def server_env(db_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a test server: this one's, without its own WAGATE_* settings."""
    values = {k: v for k, v in os.environ.items() if not k.startswith("WAGATE_")}
    values.update(
        WAGATE_PORT=str(free_port()),
        WAGATE_DATA_DIR=str(data_dir),
        WAGATE_DATABASE_URL=db_url,
        WAGATE_LOG_LEVEL="info",
    )
    values.update(settings)
    return values


async def until(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """Poll ``check`` until it returns something truthy; return that."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def wagate_command(
    *args: str, db_url: str, data_dir: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """``python -m wagate ARGS`` on the test's database, as an operator runs the CLI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAGATE_")}
    env |= {
        "WAGATE_DATABASE_URL": db_url,
        "WAGATE_DATA_DIR": str(data_dir),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "wagate", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
