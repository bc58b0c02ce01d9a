"""One backend, start to finish: baseline, then a wagate server for the two API benchmarks."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.api import Api
from benchmarks.backends import BackendUnavailable, open_backend
from benchmarks.baseline import CommitRate
from benchmarks.latency import LatencyResult, measure_latency
from benchmarks.plan import Plan
from benchmarks.server import WagateServer
from benchmarks.throughput import SendResult, measure_send


@dataclass
class BackendRun:
    name: str
    label: str = ""
    notes: list[str] = field(default_factory=list)
    baseline: CommitRate | None = None
    send: SendResult | None = None
    latency: LatencyResult | None = None
    skipped: str | None = None
    failed: str | None = None
    server_stopped_cleanly: bool | None = None
    server_log_tail: str | None = None


async def run_backend(
    name: str, plan: Plan, workdir: Path, say: Callable[[str], None]
) -> BackendRun:
    run = BackendRun(name=name)
    try:
        async with open_backend(name, workdir) as backend:
            run.label, run.notes = backend.label, list(backend.notes)
            for note in run.notes:
                say(f"  note: {note}")
            say(f"  baseline: {plan.commits} one-row commits ...")
            run.baseline = await backend.commit_rate(plan)
            say(f"    {run.baseline.per_s:,.0f} commits/s ({run.baseline.how})")
            server = WagateServer(
                database_url=backend.database_url,
                data_dir=workdir / "data",
                log_path=workdir / "server.log",
            )
            try:
                async with server, Api(server.url, server.api_key) as api:
                    say(f"  wagate serve on {server.url}; connecting a simulator session ...")
                    session_id = await api.connected_simulator_session("bench")
                    say(
                        f"  send: {plan.messages} messages, {plan.concurrency} in flight, "
                        f"{plan.recipients} recipients ..."
                    )
                    run.send = await measure_send(api, session_id, plan, server)
                    say(
                        f"    accepted {run.send.accepted_per_s:,.0f}/s, "
                        f"sent {run.send.sent_per_s:,.0f}/s"
                        + (" (TIMED OUT)" if run.send.timed_out else "")
                    )
                    say(
                        f"  latency: {plan.rate:.0f} requests/s for {plan.duration_s:.0f} s, "
                        "half POST message, half GET session ..."
                    )
                    run.latency = await measure_latency(api, session_id, plan, server)
                    lat = run.latency.latency
                    say(
                        f"    p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, "
                        f"{run.latency.achieved_rate:,.0f}/s achieved, {run.latency.errors} errors"
                    )
            finally:
                run.server_stopped_cleanly = server.stopped_cleanly if server.process else None
                if run.server_stopped_cleanly is False:
                    run.server_log_tail = server.log_tail()
            say(f"  server stopped (exit code {server.exit_code})")
    except BackendUnavailable as exc:
        run.skipped = str(exc)
        say(f"  SKIPPED: {exc}")
    except Exception as exc:
        run.failed = f"{type(exc).__name__}: {exc}"
        say(f"  FAILED: {run.failed}")
        say(traceback.format_exc())
    return run
