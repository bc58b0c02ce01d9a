"""The fast path: wagate's hot routes as a ratio to a bare FastAPI app with the same shape.

Both servers are driven by the same load generator (:mod:`benchmarks.loadgen`,
a process of its own, 32 requests in flight unless said otherwise), served
the same way (one uvicorn process), in the same run:

1. the **bare app** (:mod:`benchmarks.bare_app`): the send route closed
   loop (its rate, p99 and CPU per request), the simulator-inbound and the
   Cloud-ingest routes closed loop, and the send route open loop at half
   its closed-loop rate (its p99 there is the latency reference);
2. **wagate**, one server with a connected simulator session whose contacts
   send delivery and read receipts (so "sent" is measured with receipts on):

   * accept: ``POST /v1/sessions/{id}/messages`` closed loop while the
     session's sender transmits them; then the time until every one is
     ``sent`` (end to end);
   * accept at half the bare app's rate, open loop: its p99;
   * inbound: ``POST /v1/simulator/{id}/inbound`` and signed
     ``POST /v1/ingest/cloud`` notifications (one message each, to a cloud
     session that is not started), closed loop;
   * inbound at a fixed rate (open loop) while a send burst runs: its p99.

For every wagate figure the server's CPU time and its database commits
(``wagate_db_commits`` from ``/metrics``) are divided by the messages, so a
figure can be compared across machines whose disks differ tenfold.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.api import Api
from benchmarks.backends import Backend
from benchmarks.bare_app import APP_SECRET
from benchmarks.loadgen import LoadResult, LoadSpec, run_in_process
from benchmarks.plan import Plan
from benchmarks.server import API_KEY, WagateServer, free_port, process_cpu_seconds

SEND_BODY = '{"to": "+1555{r}0000", "type": "text", "text": "fast path message {i}"}'
INBOUND_BODY = '{"from": "+1556{r}0000", "text": "a reply {i}"}'
CLOUD_PHONE_ID = "106540352242922"
CLOUD_BODY = json.dumps(
    {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": CLOUD_PHONE_ID,
                            },
                            "contacts": [{"profile": {"name": "Bench"}, "wa_id": "1557{r}0000"}],
                            "messages": [
                                {
                                    "from": "1557{r}0000",
                                    "id": "wamid.BENCH{i}",
                                    "timestamp": "1749416383",
                                    "type": "text",
                                    "text": {"body": "cloud reply {i}"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
)
JSON = {"content-type": "application/json"}
RECEIPTS_ON = {
    "WAGATE_SIMULATOR_DELIVERY_DELAY_S": "0.05",  # each sent message is delivered, then read
    "WAGATE_SIMULATOR_READ_DELAY_S": "0.2",
    "WAGATE_DUPLICATE_WINDOW_S": "60",
}
AUTH = {"authorization": f"Bearer {API_KEY}", **JSON}


@dataclass
class Measured:
    """One load run and what the server spent on it."""

    load: LoadResult
    server_cpu_ms: float  # per 2xx answer
    commits: float | None = None  # per 2xx answer (wagate only)

    def row(self) -> dict[str, Any]:
        return {**asdict(self.load), "server_cpu_ms": self.server_cpu_ms, "commits": self.commits}


@dataclass
class FastPathResult:
    bare_send: Measured | None = None
    bare_inbound: Measured | None = None
    bare_cloud: Measured | None = None
    bare_send_half: Measured | None = None
    durable_send: Measured | None = None  # the bare send route plus a group-committed insert
    accept: Measured | None = None
    sent_per_s: float | None = None
    sent_commits: float | None = None  # commits per message from the first POST until all sent
    accept_half: Measured | None = None
    inbound: Measured | None = None
    cloud: Measured | None = None
    inbound_under_send: Measured | None = None
    inbound_rate: float = 0.0
    problems: list[str] = field(default_factory=list)

    def ratios(self) -> dict[str, float | None]:
        def ratio(a: Measured | None, b: Measured | None) -> float | None:
            if a is None or b is None or not b.load.rate:
                return None
            return a.load.rate / b.load.rate

        bare = self.bare_send.load.rate if self.bare_send else None
        return {
            "accept": ratio(self.accept, self.bare_send),
            "durable_floor": ratio(self.durable_send, self.bare_send),
            "sent": self.sent_per_s / bare if self.sent_per_s and bare else None,
            "inbound": ratio(self.inbound, self.bare_inbound),
            "cloud": ratio(self.cloud, self.bare_cloud),
            "accept_p99_at_half": (
                self.accept_half.load.p99_ms / self.bare_send_half.load.p99_ms
                if self.accept_half and self.bare_send_half and self.bare_send_half.load.p99_ms
                else None
            ),
        }


async def _measured(spec: LoadSpec, pid: int, commits: Any = None) -> Measured:
    cpu0 = process_cpu_seconds(pid)
    commits0 = await commits() if commits else None
    load = await run_in_process(spec)
    cpu = process_cpu_seconds(pid) - cpu0
    per = max(load.ok, 1)
    used = ((await commits()) - commits0) / per if commits and commits0 is not None else None
    return Measured(load, cpu * 1000 / per, used)


async def measure_bare(plan: Plan, workdir: Path, result: FastPathResult, say: Any) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.bare_app",
        str(port),
        "--durable",
        str(workdir / "durable-floor.db"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(url)
        n = plan.fast_requests
        result.bare_send = await _measured(
            LoadSpec(f"{url}/v1/sessions/ses_bare/messages", SEND_BODY, n, headers=AUTH),
            process.pid,
        )
        result.durable_send = await _measured(
            LoadSpec(f"{url}/v1/durable/ses_bare/messages", SEND_BODY, n, headers=AUTH),
            process.pid,
        )
        result.bare_inbound = await _measured(
            LoadSpec(f"{url}/v1/simulator/ses_bare/inbound", INBOUND_BODY, n, headers=AUTH),
            process.pid,
        )
        result.bare_cloud = await _measured(
            LoadSpec(f"{url}/v1/ingest/cloud", CLOUD_BODY, n, headers=JSON, sign=APP_SECRET),
            process.pid,
        )
        half = result.bare_send.load.rate / 2
        result.bare_send_half = await _measured(
            _open_loop(f"{url}/v1/sessions/ses_bare/messages", SEND_BODY, half, plan), process.pid
        )
        for name, m in (
            ("send", result.bare_send),
            ("send plus a group-committed insert (the durable floor)", result.durable_send),
            ("inbound", result.bare_inbound),
            ("cloud ingest", result.bare_cloud),
        ):
            say(f"    bare {name}: {_line(m)}")
        say(
            f"    bare send at {half:,.0f}/s (open loop): "
            f"p99 {result.bare_send_half.load.p99_ms:.1f} ms"
        )
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def measure_wagate(
    backend: Backend, plan: Plan, workdir: Path, result: FastPathResult, say: Any
) -> None:
    server = WagateServer(
        database_url=await backend.fresh_database_url(workdir / "fast-data"),
        data_dir=workdir / "fast-data",
        log_path=workdir / "fast.log",
        worker_id="bench-fast",
        extra_env=RECEIPTS_ON,
    )
    async with server, Api(server.url, server.api_key) as api:
        assert server.process is not None
        pid = server.process.pid
        session_id = await api.connected_simulator_session("fast")
        status, cloud = await api.call(
            "POST",
            "/v1/sessions",
            {
                "name": "fast-cloud",
                "transport": "cloud",
                "start": False,
                "config": {
                    "phone_number_id": CLOUD_PHONE_ID,
                    "access_token": "bench-token",
                    "app_secret": APP_SECRET,
                    "verify_token": "bench-verify",
                },
            },
        )
        if status != 201:
            result.problems.append(f"creating the cloud session answered {status}: {cloud}")

        async def commits() -> float:
            return await _metric(api, "wagate_db_commits_total")

        n = plan.fast_requests
        base = server.url
        send_url = f"{base}/v1/sessions/{session_id}/messages"
        started, commits0 = time.monotonic(), await commits()
        result.accept = await _measured(
            LoadSpec(send_url, SEND_BODY, n, headers=AUTH), pid, commits
        )
        say(f"    wagate accept: {_line(result.accept)}")
        sent_s = await _until_sent(api, n, started, plan.send_deadline_s)
        if sent_s is None:
            result.problems.append(f"not every message was sent within {plan.send_deadline_s} s")
        else:
            result.sent_per_s = n / sent_s
            result.sent_commits = ((await commits()) - commits0) / n
            say(f"    sent end to end (receipts on): {result.sent_per_s:,.0f}/s")
        inbound_url = f"{base}/v1/simulator/{session_id}/inbound"
        result.inbound = await _measured(
            LoadSpec(inbound_url, INBOUND_BODY, n, headers=AUTH), pid, commits
        )
        say(f"    wagate simulator inbound: {_line(result.inbound)}")
        result.cloud = await _measured(
            LoadSpec(f"{base}/v1/ingest/cloud", CLOUD_BODY, n, headers=JSON, sign=APP_SECRET),
            pid,
            commits,
        )
        say(f"    wagate cloud ingest: {_line(result.cloud)}")
        if result.bare_send is not None:
            half = result.bare_send.load.rate / 2
            result.accept_half = await _measured(
                _open_loop(send_url, SEND_BODY, half, plan), pid, commits
            )
            say(f"    wagate accept at {half:,.0f}/s (open loop): {_line(result.accept_half)}")
        await _until_sent(api, None, time.monotonic(), plan.send_deadline_s)
        result.inbound_rate = plan.fast_inbound_rate
        burst = asyncio.create_task(
            run_in_process(LoadSpec(send_url, SEND_BODY, n, headers=AUTH, first=10 * n))
        )
        await asyncio.sleep(0.5)
        result.inbound_under_send = await _measured(
            _open_loop(inbound_url, INBOUND_BODY, plan.fast_inbound_rate, plan), pid
        )
        await burst
        say(
            f"    wagate inbound at {plan.fast_inbound_rate:.0f}/s during a send burst: "
            f"{_line(result.inbound_under_send)}"
        )


def _open_loop(url: str, body: str, rate: float, plan: Plan) -> LoadSpec:
    """``rate`` requests a second for ``plan.fast_open_s``, numbered after the closed loops'."""
    return LoadSpec(
        url,
        body,
        int(rate * plan.fast_open_s),
        rate=rate,
        concurrency=256,
        headers=AUTH,
        first=plan.fast_requests,
    )


def _line(m: Measured) -> str:
    load = m.load
    commits = f", {m.commits:.3f} commits/msg" if m.commits is not None else ""
    errors = sum(v for k, v in load.statuses.items() if not k.startswith("2"))
    return (
        f"{load.rate:,.0f}/s, p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, "
        f"server CPU {m.server_cpu_ms:.3f} ms/req{commits}"
        + (f", {errors} errors (first: {load.first_error})" if errors else "")
        + (f", {load.skipped} not started (256 already open)" if load.skipped else "")
    )


async def _wait_healthy(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not answer /health in {timeout:.0f} s")


async def _metric(api: Api, name: str) -> float:
    status, text = await api.call("GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    for line in str(text).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def _until_sent(
    api: Api, count: int | None, started: float, deadline_s: float
) -> float | None:
    """Seconds from ``started`` until nothing is queued or sending (and, with ``count``,
    at least that many are sent); None past the deadline."""
    while time.monotonic() - started < deadline_s:
        counts = await api.outbound_counts()
        open_now = counts.get("queued", 0) + counts.get("sending", 0)
        done = sum(v for k, v in counts.items() if k not in ("queued", "sending"))
        if open_now == 0 and (count is None or done >= count):
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return None


async def measure_fastpath(backend: Backend, plan: Plan, workdir: Path, say: Any) -> FastPathResult:
    result = FastPathResult()
    say(f"  fast path: {plan.fast_requests} requests per route, 32 in flight ...")
    await measure_bare(plan, workdir, result, say)
    await measure_wagate(backend, plan, workdir, result, say)
    for name, value in result.ratios().items():
        if value is not None:
            say(f"    ratio {name}: {value:.2f}")
    return result
