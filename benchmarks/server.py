"""A real ``wagate serve`` subprocess on a free loopback port.

Started the way an operator starts it (``python -m wagate serve`` with
``WAGATE_*`` variables) and always stopped the way an operator stops it:
SIGTERM, then wait for a clean exit; SIGKILL only if it does not exit in time.
The crash drill also kills it on purpose (:meth:`WagateServer.kill`) and
starts it again with the same environment, port and worker id.

Every server runs with pacing off (``WAGATE_PACING=instant``) and the
per-recipient and per-session guardrails raised far beyond what a run sends,
so the figures are wagate's own work, never a deliberate delay.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import TracebackType

import aiohttp

API_KEY = "wga_bench_admin_key_0123456789abcdef"
UNLIMITED = "1000000"  # guardrail settings no benchmark comes near


class ServerFailed(RuntimeError):
    """The server did not start or died; the message ends with its log."""


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far (Linux /proc; 0 if unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the ")" that closes the command name, utime and stime are fields 12 and 13.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WagateServer:
    def __init__(
        self,
        *,
        database_url: str,
        data_dir: Path,
        log_path: Path,
        worker_id: str = "bench",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = API_KEY
        self.log_path = log_path
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WAGATE_")}
        self.env.update(
            WAGATE_HOST="127.0.0.1",
            WAGATE_PORT=str(self.port),
            WAGATE_DATA_DIR=str(data_dir),
            WAGATE_DATABASE_URL=database_url,
            WAGATE_API_KEY=API_KEY,
            WAGATE_LOG_LEVEL="warning",
            # Receipts far in the future: every message stays `sent`, and no receipt
            # traffic competes with the sends being measured.
            WAGATE_SIMULATOR_DELIVERY_DELAY_S="3600",
            WAGATE_SIMULATOR_READ_DELAY_S="3600",
            WAGATE_WORKER_ID=worker_id,
            WAGATE_PACING="instant",
            WAGATE_RATE_PER_MINUTE=UNLIMITED,
            WAGATE_BURST_SIZE=UNLIMITED,
            WAGATE_DAILY_CAP=UNLIMITED,
        )
        self.env.update(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None

    async def __aenter__(self) -> WagateServer:
        try:
            await self.start()
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
        with open(self.log_path, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "wagate", "serve"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def start(self, timeout: float = 60.0) -> None:
        """Spawn the server (again, after :meth:`kill`) and wait until ``/health`` answers."""
        self.exit_code = None
        self.process = self._spawn()  # returns at once: the child starts in the background
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while loop.time() < deadline:
                if self.process.poll() is not None:
                    raise ServerFailed(f"wagate serve exited early:\n{self.log_tail()}")
                try:
                    async with http.get(f"{self.url}/health") as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.05)
        raise ServerFailed(f"wagate serve was not ready after {timeout:.0f} s:\n{self.log_tail()}")

    async def stop(self, timeout: float = 30.0) -> None:
        process = self.process
        if process is None or self.exit_code is not None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 10)
        self.exit_code = process.returncode

    async def kill(self) -> None:
        """SIGKILL: no shutdown at all, as when the machine loses the process."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.kill()
        await asyncio.to_thread(process.wait, 30)

    @property
    def stopped_cleanly(self) -> bool:
        return self.exit_code in (0, -signal.SIGTERM)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc)."""
        return 0.0 if self.process is None else process_cpu_seconds(self.process.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
