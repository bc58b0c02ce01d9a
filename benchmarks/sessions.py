"""Many sessions on one worker: memory per idle session, a reconnect storm, restore on boot.

One ``wagate serve`` process gets ``plan.sessions`` simulator sessions, all
connected. Then:

- memory: the server's resident set size before the sessions and once they are
  all connected and idle, divided by their number;
- reconnect storm: the simulated network drops every connection at the same
  moment (``POST /v1/simulator/outage``), once with close code 428 (reconnect
  at once) and once with 408 (reconnect after the 2 s backoff, with jitter);
  the figure is the time from the drop until every session is connected again;
- restore on boot: the server is stopped (SIGTERM) and started again; the
  figures are the time until ``/health`` answers and until every session is
  connected again, restored through its lease without a new QR scan.

The baseline ratio compares session transitions per second with the raw
commit rate: each reconnect commits two status changes (reconnecting, then
connected), each with its event.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.api import Api, ApiError
from benchmarks.backends import Backend
from benchmarks.plan import Plan
from benchmarks.server import WagateServer

Say = Callable[[str], None]


@dataclass
class StormResult:
    code: int
    dropped: int = 0
    recovered_s: float | None = None  # from the drop until all are connected again
    peak_not_connected: int = 0  # the most sessions seen not connected at one poll

    def per_s(self, sessions: int) -> float:
        return sessions / self.recovered_s if self.recovered_s else 0.0


@dataclass
class SessionsResult:
    sessions: int
    setup_s: float | None = None  # create + scan + connected, all of them
    rss_before_mb: float | None = None
    rss_idle_mb: float | None = None
    storms: list[StormResult] = field(default_factory=list)
    stop_s: float | None = None  # SIGTERM until the process exited
    restore_ready_s: float | None = None  # process start until /health answers
    restore_connected_s: float | None = None  # process start until every session is connected
    problems: list[str] = field(default_factory=list)

    @property
    def kb_per_session(self) -> float | None:
        if self.rss_before_mb is None or self.rss_idle_mb is None or not self.sessions:
            return None
        return (self.rss_idle_mb - self.rss_before_mb) * 1024 / self.sessions

    @property
    def passed(self) -> bool:
        return not self.problems


def rss_mb(pid: int) -> float:
    """The process's resident set size (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found")


async def _statuses(api: Api) -> Counter[str]:
    status, body = await api.call("GET", "/v1/sessions")
    if status != 200:
        raise ApiError(f"GET /v1/sessions answered {status}")
    return Counter(item["status"] for item in body["items"])


async def _until_all(
    api: Api, wanted: str, count: int, deadline_s: float, started: float
) -> tuple[float | None, int]:
    """Poll until ``count`` sessions are ``wanted``; (seconds since ``started``, peak others)."""
    peak = 0
    while time.perf_counter() - started < deadline_s:
        try:
            statuses = await _statuses(api)
        except (ApiError, OSError, TimeoutError):
            await asyncio.sleep(0.1)
            continue
        peak = max(peak, count - statuses[wanted])
        if statuses[wanted] >= count:
            return time.perf_counter() - started, peak
        await asyncio.sleep(0.1)
    return None, peak


async def _connect_all(api: Api, count: int, plan: Plan) -> float | None:
    """Create ``count`` sessions, scan each QR code; seconds until all are connected."""
    started = time.perf_counter()
    gate = asyncio.Semaphore(32)
    ids: list[str] = []

    async def create(n: int) -> None:
        async with gate:
            ids.append(await api.create_session(f"idle-{n:05d}"))

    await asyncio.gather(*(create(n) for n in range(count)))
    waited, _ = await _until_all(api, "qr", count, plan.sessions_deadline_s, started)
    if waited is None:
        return None

    async def scan(session_id: str) -> None:
        async with gate:
            status, answer = await api.call("POST", f"/v1/simulator/{session_id}/scan")
            if status != 202:
                raise ApiError(f"scan answered {status}: {answer}")

    await asyncio.gather(*(scan(i) for i in ids))
    connected, _ = await _until_all(api, "connected", count, plan.sessions_deadline_s, started)
    return connected


async def _storm(api: Api, code: int, count: int, plan: Plan) -> StormResult:
    result = StormResult(code=code)
    started = time.perf_counter()
    status, answer = await api.call("POST", "/v1/simulator/outage", {"code": code})
    if status != 202:
        raise ApiError(f"outage answered {status}: {answer}")
    result.dropped = int(answer["dropped"])
    result.recovered_s, result.peak_not_connected = await _until_all(
        api, "connected", count, plan.sessions_deadline_s, started
    )
    return result


async def measure_sessions(backend: Backend, plan: Plan, workdir: Path, say: Say) -> SessionsResult:
    count = plan.sessions
    result = SessionsResult(sessions=count)
    server = WagateServer(
        # a database of its own: the send phase's session in the shared one would be
        # restored here too, and every storm would count one session more
        database_url=await backend.fresh_database_url(workdir / "sessions-data"),
        data_dir=workdir / "sessions-data",
        log_path=workdir / "sessions-server.log",
        extra_env={"WAGATE_WORKER_CAPACITY": str(count + 100)},
    )
    async with server:
        assert server.process is not None
        async with Api(server.url, server.api_key, connections=64) as api:
            await asyncio.sleep(1.0)
            result.rss_before_mb = rss_mb(server.process.pid)
            say(f"  sessions: connecting {count} simulator sessions ...")
            result.setup_s = await _connect_all(api, count, plan)
            if result.setup_s is None:
                result.problems.append(f"not all {count} sessions connected in time")
                return result
            await asyncio.sleep(2.0)  # idle: QR tasks gone, writers quiet
            result.rss_idle_mb = rss_mb(server.process.pid)
            say(
                f"    connected in {result.setup_s:.1f} s; RSS {result.rss_before_mb:.0f} -> "
                f"{result.rss_idle_mb:.0f} MiB ({result.kb_per_session or 0:.0f} KiB per session)"
            )
            for code in (428, 408):
                say(f"  reconnect storm: the network drops all {count} with code {code} ...")
                storm = await _storm(api, code, count, plan)
                result.storms.append(storm)
                if storm.recovered_s is None or storm.dropped != count:
                    result.problems.append(
                        f"storm {code}: dropped {storm.dropped}, recovered: {storm.recovered_s}"
                    )
                    return result
                say(
                    f"    all connected again {storm.recovered_s:.2f} s after the drop "
                    f"({storm.per_s(count):,.0f} sessions/s)"
                )
                await asyncio.sleep(1.0)
        say("  restore on boot: SIGTERM, then start again ...")
        stop_started = time.perf_counter()
        await server.stop(timeout=120)
        result.stop_s = time.perf_counter() - stop_started
        if not server.stopped_cleanly:
            result.problems.append(f"the server did not stop cleanly: {server.exit_code}")
        boot = time.perf_counter()
        await server.start(timeout=plan.sessions_deadline_s)
        result.restore_ready_s = time.perf_counter() - boot
        async with Api(server.url, server.api_key, connections=8) as api:
            result.restore_connected_s, _ = await _until_all(
                api, "connected", count, plan.sessions_deadline_s, boot
            )
        if result.restore_connected_s is None:
            result.problems.append("not every session was restored in time")
        else:
            say(
                f"    stopped in {result.stop_s:.1f} s; /health after "
                f"{result.restore_ready_s:.1f} s, all {count} connected after "
                f"{result.restore_connected_s:.1f} s"
            )
    return result
