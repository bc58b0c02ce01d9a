"""A real `wagate serve` process for end-to-end tests."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import httpx


class ServerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{env['WAGATE_PORT']}"

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "wagate", "serve"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                assert self.process is not None
                assert self.process.poll() is None, self.log.read_text()
                try:
                    if (await client.get(f"{self.url}/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
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
