"""The conversation engine under load: many chats write at once to a brain that takes 1 s.

A real ``wagate serve`` process with the echo-style external brain on
loopback (an aiohttp server that sleeps ``brain_s`` and answers). Every chat
sends one message at the same moment; the run waits until every chat got a
reply, then a little longer to catch duplicates. Checked: each chat answered
exactly once, one brain call per chat. Measured from the engine's own steps
(``engine_steps``, written by the server):

- **flush lag**: from the moment a batch was due to the ``batched`` step;
- **reply overhead**: from the brain's answer (``brain`` step) to ``replied``
  (the answer committed, the reply accepted into the delivery queue, the
  batch closed);
- **engine overhead** = flush lag + reply overhead: the engine's own time per
  reply, brain time and pacing excluded;
- **wait for a brain slot**: from ``batched`` to the brain call's start,
  which includes the claim and waiting for a free connection when more
  batches are due than the brain may take at once.

``python -m benchmarks.engine [--backend sqlite|postgresql] [--chats 500]``
runs it alone; ``python -m benchmarks --only engine`` runs it as a phase.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import select

from benchmarks.backends import Backend, open_backend
from benchmarks.server import WagateServer
from wagate.store import Database
from wagate.store.models_engine import EngineStep

Say = Any


@dataclass
class EngineResult:
    chats: int
    brain_s: float
    answered: int = 0
    duplicates: int = 0
    brain_calls: int = 0
    all_answered_s: float | None = None  # from the first message to the last reply sent
    overhead_ms: dict[str, float] = field(default_factory=dict)  # p50, p99, max
    flush_lag_ms: dict[str, float] = field(default_factory=dict)
    reply_ms: dict[str, float] = field(default_factory=dict)
    slot_wait_ms: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "p50": round(statistics.median(ordered), 1),
        "p99": round(pick(0.99), 1),
        "max": round(ordered[-1], 1),
    }


async def _brain(brain_s: float) -> tuple[web.AppRunner, str, list[int]]:
    calls: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        calls.append(1)
        await asyncio.sleep(brain_s)
        return web.json_response({"output": f"thanks, {body['phone']}"})

    app = web.Application()
    app.router.add_post("/brain", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp internals
    return runner, f"http://127.0.0.1:{port}/brain", calls


async def measure_engine(
    backend: Backend, workdir: Path, say: Say, *, chats: int = 500, brain_s: float = 1.0
) -> EngineResult:
    result = EngineResult(chats=chats, brain_s=brain_s)
    data_dir = workdir / "engine-data"
    url = await backend.fresh_database_url(data_dir)
    runner, brain_url, calls = await _brain(brain_s)
    server = WagateServer(
        database_url=url,
        data_dir=data_dir,
        log_path=workdir / "engine-server.log",
        extra_env={
            "WAGATE_ALLOW_PRIVATE_URLS": "true",
            "WAGATE_ENGINE_CONCURRENCY": str(chats),
        },
    )
    say(f"  engine: {chats} chats write at once, the brain takes {brain_s:g} s ...")
    try:
        async with (
            server,
            aiohttp.ClientSession(
                base_url=server.url, headers={"authorization": f"Bearer {server.api_key}"}
            ) as http,
        ):
            sid = await _assistant_session(http, brain_url)
            started = time.monotonic()
            limit = asyncio.Semaphore(64)

            async def write(n: int) -> None:
                async with (
                    limit,
                    http.post(
                        f"/v1/simulator/{sid}/inbound",
                        json={"from": f"5511{n:09d}", "text": f"hello, I am chat {n}"},
                    ) as response,
                ):
                    if response.status != 202:
                        result.problems.append(f"inbound answered {response.status}")

            await asyncio.gather(*(write(n) for n in range(chats)))
            deadline = started + 120
            sent: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                async with http.get(f"/v1/simulator/{sid}/sent") as response:
                    sent = (await response.json())["items"]
                if len({s["to"] for s in sent}) >= chats:
                    result.all_answered_s = round(time.monotonic() - started, 2)
                    break
                await asyncio.sleep(0.25)
            await asyncio.sleep(3)  # anything sent twice would show up by now
            async with http.get(f"/v1/simulator/{sid}/sent") as response:
                sent = (await response.json())["items"]
        per_chat = Counter(s["to"] for s in sent)
        result.answered = len(per_chat)
        result.duplicates = sum(n - 1 for n in per_chat.values())
        result.brain_calls = len(calls)
        if result.answered < chats:
            result.problems.append(f"{chats - result.answered} chats not answered")
        if result.duplicates:
            result.problems.append(f"{result.duplicates} replies sent twice")
        if result.brain_calls != chats:
            result.problems.append(f"{result.brain_calls} brain calls for {chats} chats")
        await _timings(url, result)
    finally:
        await runner.cleanup()
    say(
        f"    answered {result.answered}/{chats} in {result.all_answered_s} s, "
        f"{result.duplicates} duplicates, {result.brain_calls} brain calls; engine overhead "
        f"per reply p50 {result.overhead_ms.get('p50')} ms, p99 {result.overhead_ms.get('p99')} ms "
        f"(flush lag p50 {result.flush_lag_ms.get('p50')} ms, reply p50 "
        f"{result.reply_ms.get('p50')} ms; wait for a brain slot p50 "
        f"{result.slot_wait_ms.get('p50')} ms, p99 {result.slot_wait_ms.get('p99')} ms)"
        + ("" if result.passed else f"; PROBLEMS: {'; '.join(result.problems)}")
    )
    return result


async def _assistant_session(http: aiohttp.ClientSession, brain_url: str) -> str:
    async with http.post("/v1/sessions", json={"name": "engine", "transport": "simulator"}) as r:
        sid = str((await r.json())["id"])
    for _ in range(200):
        async with http.post(f"/v1/simulator/{sid}/scan") as r:
            if r.status == 202:
                break
        await asyncio.sleep(0.05)
    for _ in range(200):
        async with http.get(f"/v1/sessions/{sid}") as r:
            if (await r.json())["status"] == "connected":
                break
        await asyncio.sleep(0.05)
    body = {"enabled": True, "brain": {"kind": "webhook", "url": brain_url, "timeout_s": 60}}
    async with http.put(f"/v1/sessions/{sid}/assistant", json=body) as r:
        if r.status != 200:
            raise RuntimeError(f"assistant settings refused: {await r.text()}")
    return sid


async def _timings(url: str, result: EngineResult) -> None:
    db = Database.connect(url)
    try:
        async with db.read() as tx:
            steps = list(await tx.scalars(select(EngineStep).order_by(EngineStep.seq)))
    finally:
        await db.dispose()
    due: dict[str, datetime] = {}
    batched: dict[str, datetime] = {}
    brain: dict[str, tuple[datetime, float]] = {}
    replied: dict[str, datetime] = {}
    for step in steps:
        key = step.chat_id
        if step.kind == "buffered" and step.data.get("due_at"):
            due[key] = datetime.fromisoformat(step.data["due_at"].replace("Z", "+00:00"))
        elif step.kind == "batched":
            batched[key] = step.created_at
        elif step.kind == "brain":
            brain[key] = (step.created_at, float(step.data["latency_ms"]))
        elif step.kind == "replied":
            replied[key] = step.created_at
    flush, reply, overhead, wait = [], [], [], []
    for key, done in replied.items():
        if key not in due or key not in batched or key not in brain:
            continue
        answered_at, latency_ms = brain[key]
        lag = (batched[key] - due[key]).total_seconds() * 1000
        after = (done - answered_at).total_seconds() * 1000
        flush.append(lag)
        reply.append(after)
        overhead.append(lag + after)
        wait.append((answered_at - batched[key]).total_seconds() * 1000 - latency_ms)
    result.flush_lag_ms = _percentiles(flush)
    result.reply_ms = _percentiles(reply)
    result.overhead_ms = _percentiles(overhead)
    result.slot_wait_ms = _percentiles(wait)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--brain-s", type=float, default=1.0)
    args = parser.parse_args()

    async def run() -> EngineResult:
        with tempfile.TemporaryDirectory(prefix="wagate-engine-bench-") as tmp:
            workdir = Path(tmp)
            async with open_backend(args.backend, workdir) as backend:
                return await measure_engine(
                    backend, workdir, print, chats=args.chats, brain_s=args.brain_s
                )

    result = asyncio.run(run())
    raise SystemExit(0 if result.passed else 1)


if __name__ == "__main__":
    main()
