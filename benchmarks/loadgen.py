"""An HTTP load generator that runs as its own process, so it never shares wagate's event loop.

``python -m benchmarks.loadgen SPEC_JSON`` reads a :class:`LoadSpec` as JSON,
runs it against a server and prints one JSON line: the answers by status, the
rate, latency percentiles and the generator's own CPU time.

Two modes, both bounded by a count and a deadline:

* **closed loop** (``rate`` unset): ``concurrency`` requests in flight, each
  worker sending its next request when the previous one answered: the most
  the server can take at that concurrency;
* **open loop** (``rate`` set): request *i* starts at ``t0 + i / rate``
  whether or not earlier ones answered, and its latency counts from that
  scheduled time, so a server that falls behind shows up as latency
  ("coordinated omission"); at most ``concurrency`` are open at once, and a
  request that would exceed it is counted as ``skipped``.

Bodies come from a template in which ``{i}`` (the request's number) and
``{r}`` (``i`` modulo ``recipients``, a stable recipient index) are replaced,
so a run never repeats a text (no duplicate-message refusals) and spreads
over a fixed set of chats. A ``sign`` key signs each body as Meta signs Cloud
API webhooks (``X-Hub-Signature-256``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import resource
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import aiohttp


@dataclass
class LoadSpec:
    url: str  # e.g. http://127.0.0.1:8080/v1/sessions/ses_x/messages
    body: str  # the template; "{i}" and "{r}" are replaced (other braces are left alone)
    count: int
    concurrency: int = 32
    rate: float | None = None  # requests per second (open loop); None: closed loop
    recipients: int = 100
    headers: dict[str, str] = field(default_factory=dict)
    sign: str | None = None  # app secret: add X-Hub-Signature-256 over each body
    deadline_s: float = 60.0
    first: int = 0  # the first request number (so two runs never repeat a body)


@dataclass
class LoadResult:
    requests: int = 0
    ok: int = 0  # 2xx
    statuses: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    seconds: float = 0.0
    rate: float = 0.0  # 2xx answers per second
    p50_ms: float = math.nan
    p90_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    client_cpu_s: float = 0.0
    timed_out: bool = False
    first_error: str | None = None


def render(template: str, i: int, recipients: int) -> str:
    return template.replace("{i}", str(i)).replace("{r}", str(i % recipients))


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class _Run:
    def __init__(self, spec: LoadSpec, http: aiohttp.ClientSession) -> None:
        self.spec = spec
        self.http = http
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.first_error: str | None = None

    async def one(self, i: int, started: float) -> None:
        body = render(self.spec.body, i, self.spec.recipients).encode()
        headers = dict(self.spec.headers)
        if self.spec.sign is not None:
            digest = hmac.new(self.spec.sign.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature-256"] = f"sha256={digest}"
        try:
            async with self.http.post(self.spec.url, data=body, headers=headers) as response:
                text = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.statuses[type(exc).__name__] += 1
            self.first_error = self.first_error or repr(exc)
            return
        self.statuses[str(status)] += 1
        if 200 <= status < 300:
            self.latencies.append(time.perf_counter() - started)
        elif self.first_error is None:
            self.first_error = f"{status}: {text[:300].decode(errors='replace')}"


async def run(spec: LoadSpec) -> LoadResult:
    connector = aiohttp.TCPConnector(limit=spec.concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=spec.deadline_s)
    result = LoadResult()
    cpu0 = _cpu()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        state = _Run(spec, http)
        t0 = time.perf_counter()
        deadline = t0 + spec.deadline_s
        if spec.rate is None:
            result.timed_out = await _closed(state, deadline)
        else:
            result.skipped, result.timed_out = await _open(state, t0, deadline)
        result.seconds = time.perf_counter() - t0
    result.client_cpu_s = _cpu() - cpu0
    ordered = sorted(state.latencies)
    result.ok = len(ordered)
    result.requests = sum(state.statuses.values()) + result.skipped
    result.statuses = dict(state.statuses)
    result.rate = result.ok / result.seconds if result.seconds > 0 else 0.0
    result.p50_ms = percentile(ordered, 50) * 1000
    result.p90_ms = percentile(ordered, 90) * 1000
    result.p99_ms = percentile(ordered, 99) * 1000
    result.max_ms = ordered[-1] * 1000 if ordered else math.nan
    result.first_error = state.first_error
    return result


async def _closed(state: _Run, deadline: float) -> bool:
    spec = state.spec
    numbers = iter(range(spec.first, spec.first + spec.count))
    timed_out = False

    async def worker() -> None:
        nonlocal timed_out
        for i in numbers:
            if time.perf_counter() > deadline:
                timed_out = True
                return
            await state.one(i, time.perf_counter())

    await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    return timed_out


async def _open(state: _Run, t0: float, deadline: float) -> tuple[int, bool]:
    spec = state.spec
    assert spec.rate is not None
    open_requests: set[asyncio.Task[None]] = set()
    skipped = 0
    timed_out = False
    for n in range(spec.count):
        scheduled = t0 + n / spec.rate
        if scheduled > deadline:
            timed_out = True
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(open_requests) >= spec.concurrency:
            skipped += 1
            continue
        task = asyncio.create_task(state.one(spec.first + n, scheduled))
        open_requests.add(task)
        task.add_done_callback(open_requests.discard)
    if open_requests:
        await asyncio.wait(open_requests, timeout=max(0.0, deadline - time.perf_counter()) + 5)
    return skipped, timed_out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_in_process(spec: LoadSpec) -> LoadResult:
    """Run ``spec`` in a child process (``python -m benchmarks.loadgen``) and read its result."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.loadgen",
        json.dumps(asdict(spec)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"load generator failed ({child.returncode}): {err.decode()[-2000:]}")
    return LoadResult(**json.loads(out.decode().strip().splitlines()[-1]))


def main(argv: list[str]) -> int:
    spec = LoadSpec(**json.loads(argv[0]))
    result = asyncio.run(run(spec))
    print(json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
