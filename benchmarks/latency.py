"""API latency at a fixed request rate, open loop.

Requests are started on a fixed schedule (request i at t0 + i/rate) whether
or not earlier ones have answered, half ``POST /v1/sessions/{id}/messages``
and half ``GET /v1/sessions/{id}``. Latency is measured from the *scheduled*
start, so a server (or a client) that falls behind shows up as latency
instead of quietly lowering the rate ("coordinated omission"). The time from
the actual start is kept too, as ``service`` latency. At most
``max_in_flight`` requests are open at once; a request that would exceed it
is skipped and counted as an error, which keeps the run bounded.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from benchmarks.api import Api
from benchmarks.plan import Plan
from benchmarks.server import WagateServer
from benchmarks.throughput import recipient


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(values_s: list[float]) -> dict[str, float]:
    ordered = sorted(values_s)
    return {
        "count": len(ordered),
        "p50_ms": percentile(ordered, 50) * 1000,
        "p90_ms": percentile(ordered, 90) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
        "max_ms": (ordered[-1] * 1000) if ordered else math.nan,
    }


@dataclass
class LatencyResult:
    target_rate: float
    duration_s: float
    planned: int
    ok: int = 0
    errors: int = 0
    skipped: int = 0
    error_samples: dict[str, int] = field(default_factory=dict)
    achieved_rate: float = 0.0
    latency: dict[str, float] = field(default_factory=dict)
    service: dict[str, float] = field(default_factory=dict)
    by_route: dict[str, dict[str, float]] = field(default_factory=dict)
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0


async def measure_latency(
    api: Api, session_id: str, plan: Plan, server: WagateServer
) -> LatencyResult:
    total = int(plan.rate * plan.duration_s)
    result = LatencyResult(target_rate=plan.rate, duration_s=plan.duration_s, planned=total)
    post_path = f"/v1/sessions/{session_id}/messages"
    get_path = f"/v1/sessions/{session_id}"
    latencies: dict[str, list[float]] = {"post": [], "get": []}
    service: list[float] = []
    errors: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    last_end = 0.0

    async def one(i: int, scheduled: float) -> None:
        nonlocal last_end
        route = "post" if i % 2 == 0 else "get"
        started = loop.time()
        try:
            if route == "post":
                body: Any = {"to": recipient(i, plan.recipients), "text": f"latency probe {i}"}
                status = await api.status_of("POST", post_path, body)
                ok = status == 202
            else:
                status = await api.status_of("GET", get_path)
                ok = status == 200
        except (aiohttp.ClientError, TimeoutError) as exc:
            errors[type(exc).__name__] += 1
            return
        end = loop.time()
        if not ok:
            errors[f"{route.upper()} HTTP {status}"] += 1
            return
        last_end = max(last_end, end)
        latencies[route].append(end - scheduled)
        service.append(end - started)

    in_flight: set[asyncio.Task[None]] = set()
    cpu0, client0 = server.cpu_seconds(), time.process_time()
    t0 = loop.time() + 0.05
    for i in range(total):
        scheduled = t0 + i / plan.rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= plan.max_in_flight:
            result.skipped += 1
            continue
        task = asyncio.create_task(one(i, scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        _, pending = await asyncio.wait(set(in_flight), timeout=plan.drain_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            errors["not answered within the drain time"] += len(pending)
    result.server_cpu_s = server.cpu_seconds() - cpu0
    result.client_cpu_s = time.process_time() - client0

    merged = latencies["post"] + latencies["get"]
    result.ok = len(merged)
    result.errors = sum(errors.values()) + result.skipped
    if result.skipped:
        errors["skipped: max in flight reached"] = result.skipped
    result.error_samples = dict(errors.most_common(5))
    span = last_end - t0
    result.achieved_rate = result.ok / span if span > 0 else 0.0
    result.latency = summarize(merged)
    result.service = summarize(service)
    result.by_route = {route: summarize(values) for route, values in latencies.items()}
    return result
