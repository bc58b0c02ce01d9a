"""The harness's handle on the receiver process (``benchmarks/receiver_app.py``).

Started on a free loopback port, waited for, driven through its control
routes, and stopped with SIGTERM (SIGKILL only if it does not exit in time).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from benchmarks.server import free_port, process_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent


class ReceiverFailed(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Arrival:
    first_at: float  # time.monotonic() of the first 2xx answer for this webhook-id
    accepted: int  # 2xx answers for it (more than 1: a duplicate delivery)
    type: str | None  # the event type in the verified body


class ReceiverProcess:
    def __init__(self, log_path: Path, max_s: float) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.max_s = max_s
        self.process: subprocess.Popen[bytes] | None = None
        self._http: aiohttp.ClientSession | None = None

    def hook_url(self, channel: str) -> str:
        return f"{self.url}/hook/{channel}"

    async def __aenter__(self) -> ReceiverProcess:
        self._http = aiohttp.ClientSession(
            base_url=self.url, timeout=aiohttp.ClientTimeout(total=30)
        )
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "benchmarks.receiver_app"]
        with open(self.log_path, "ab") as out:
            return subprocess.Popen(
                [*command, "--port", str(self.port), "--max-s", str(self.max_s)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def _start(self, timeout: float = 30.0) -> None:
        self.process = self._spawn()  # returns at once: the child starts in the background
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for _ in range(int(timeout / 0.05) + 1):  # and the deadline, whichever comes first
            if loop.time() >= deadline:
                break
            if self.process.poll() is not None:
                raise ReceiverFailed(f"the receiver exited early: {self.log_tail()}")
            try:
                if (await self._call("GET", "/control/health"))["ok"]:
                    return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.05)
        raise ReceiverFailed(f"the receiver was not ready after {timeout:.0f} s")

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 10)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 10)

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        assert self._http is not None, "use ReceiverProcess as an async context manager"
        async with self._http.request(method, path, json=body) as response:
            if response.status != 200:
                raise ReceiverFailed(f"{method} {path} answered {response.status}")
            return await response.json()

    async def channel(self, name: str, secret: str) -> None:
        """A (fresh) channel at :meth:`hook_url`, verified against ``secret``."""
        await self._call("PUT", f"/control/channels/{name}", {"secret": secret})

    async def answer(self, status: int) -> float:
        """Answer verified requests with ``status`` from now on; when (monotonic) it switched."""
        return float((await self._call("PUT", "/control/answer", {"status": status}))["at"])

    async def stats(self, name: str) -> dict[str, Any]:
        return dict(await self._call("GET", f"/control/channels/{name}/stats"))

    async def arrivals(self, name: str) -> dict[str, Arrival]:
        raw = (await self._call("GET", f"/control/channels/{name}/arrivals"))["arrivals"]
        return {key: Arrival(float(v[0]), int(v[1]), v[2]) for key, v in raw.items()}

    async def wait_distinct(self, name: str, count: int, timeout: float) -> bool:
        """Until ``count`` distinct ids were accepted (polled at 10 Hz, bounded in time)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for _ in range(int(timeout / 0.1) + 1):
            if loop.time() >= deadline:
                break
            if (await self.stats(name))["distinct"] >= count:
                return True
            await asyncio.sleep(0.1)
        return False

    def cpu_seconds(self) -> float:
        return 0.0 if self.process is None else process_cpu_seconds(self.process.pid)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
