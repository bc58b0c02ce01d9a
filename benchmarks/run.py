"""One backend, start to finish.

The baseline; the fast path against a bare FastAPI app; one wagate server
for send throughput and API latency; on
PostgreSQL, send throughput again with two servers on one database; the
crash drill on a server of its own; webhook delivery throughput; the webhook
outage drill; then many sessions on one worker (memory, reconnect storm,
restore on boot). Each phase gets a fresh database, and a phase that fails is
reported without stopping the ones after it. ``phases`` picks a subset (the
baseline always runs: every figure is compared with it).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.api import Api
from benchmarks.backends import Backend, BackendUnavailable, open_backend
from benchmarks.baseline import CommitRate
from benchmarks.deliver import DeliveryRun, measure_delivery
from benchmarks.drill import DrillResult, run_drill
from benchmarks.engine import EngineResult, measure_engine
from benchmarks.fastpath import FastPathResult, measure_fastpath
from benchmarks.fleet import FleetResult, measure_fleet
from benchmarks.latency import LatencyResult, measure_latency
from benchmarks.outage import OutageResult, run_outage
from benchmarks.plan import Plan
from benchmarks.server import WagateServer
from benchmarks.sessions import SessionsResult, measure_sessions
from benchmarks.throughput import SendResult, measure_send
from benchmarks.twoproc import TwoProcessRun, measure_two_processes
from benchmarks.webhook_report import outage_verdict

Say = Callable[[str], None]

PHASES = (
    "fastpath",
    "send",
    "two-process",
    "drill",
    "webhooks",
    "outage",
    "sessions",
    "engine",
    "fleet",
)


@dataclass
class BackendRun:
    name: str
    label: str = ""
    notes: list[str] = field(default_factory=list)
    baseline: CommitRate | None = None
    fastpath: FastPathResult | None = None
    send: SendResult | None = None
    latency: LatencyResult | None = None
    two_process: TwoProcessRun | None = None
    drill: DrillResult | None = None
    delivery: DeliveryRun | None = None
    outage: OutageResult | None = None
    sessions: SessionsResult | None = None
    engine: EngineResult | None = None
    fleet: FleetResult | None = None
    skipped: str | None = None
    failed: str | None = None
    server_stopped_cleanly: bool | None = None
    server_log_tail: str | None = None

    def fail(self, phase: str, exc: BaseException, say: Say) -> None:
        what = f"{phase}: {type(exc).__name__}: {exc}"
        self.failed = f"{self.failed}; {what}" if self.failed else what
        say(f"  FAILED: {what}")
        say(traceback.format_exc())

    @property
    def drill_failed(self) -> bool:
        return self.drill is not None and not self.drill.passed

    @property
    def webhooks_failed(self) -> bool:
        """The outage drill failed, or the throughput run found a lost or badly signed event."""
        outage = self.outage is not None and not self.outage.passed
        return outage or (self.delivery is not None and bool(self.delivery.problems))

    @property
    def sessions_failed(self) -> bool:
        return self.sessions is not None and not self.sessions.passed


def _sent_line(send: SendResult) -> str:
    return f"    accepted {send.accepted_per_s:,.0f}/s, sent {send.sent_per_s:,.0f}/s" + (
        " (TIMED OUT)" if send.timed_out else ""
    )


async def run_backend(
    name: str, plan: Plan, workdir: Path, say: Say, phases: tuple[str, ...] = PHASES
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
            if "fastpath" in phases:
                try:
                    run.fastpath = await measure_fastpath(backend, plan, workdir, say)
                    for problem in run.fastpath.problems:
                        say(f"    PROBLEM: {problem}")
                except Exception as exc:
                    run.fail("fast path", exc, say)
            if "send" in phases:
                try:
                    await _one_server(run, backend, plan, workdir, say)
                except Exception as exc:
                    run.fail("one server", exc, say)
            if name == "postgresql" and "two-process" in phases:
                try:
                    run.two_process = await measure_two_processes(backend, plan, workdir, say)
                    if run.two_process.send is not None:
                        say(_sent_line(run.two_process.send))
                except Exception as exc:
                    run.fail("two servers", exc, say)
            if "drill" in phases:
                run.drill = await run_drill(backend, plan, workdir, say)
                drill = run.drill
                say(
                    f"    recovered in {drill.recover_s or float('nan'):.1f} s: {drill.arrived} "
                    f"arrived, {drill.duplicates} duplicates, {drill.lost} lost: "
                    + ("PASS" if drill.passed else "FAIL: " + "; ".join(drill.problems))
                )
            if "webhooks" in phases:
                try:
                    run.delivery = await measure_delivery(backend, plan, workdir, say)
                except Exception as exc:
                    run.fail("webhook delivery", exc, say)
            if "outage" in phases:
                run.outage = await run_outage(backend, plan, workdir, say)
                drain = run.outage.drain_s
                say(f"    drained {drain or float('nan'):.1f} s after the recovery")
                say(f"    {outage_verdict(run.outage)}")
            if "sessions" in phases:
                try:
                    run.sessions = await measure_sessions(backend, plan, workdir, say)
                    for problem in run.sessions.problems:
                        say(f"    PROBLEM: {problem}")
                except Exception as exc:
                    run.fail("sessions", exc, say)
            if "engine" in phases:
                try:
                    run.engine = await measure_engine(
                        backend, workdir, say, chats=plan.engine_chats
                    )
                except Exception as exc:
                    run.fail("engine", exc, say)
            if name == "postgresql" and "fleet" in phases:
                try:
                    run.fleet = await measure_fleet(backend, plan, workdir, say)
                    for problem in run.fleet.problems:
                        say(f"    PROBLEM: {problem}")
                except Exception as exc:
                    run.fail("fleet", exc, say)
    except BackendUnavailable as exc:
        run.skipped = str(exc)
        say(f"  SKIPPED: {exc}")
    except Exception as exc:
        run.fail("backend", exc, say)
    return run


async def _one_server(
    run: BackendRun, backend: Backend, plan: Plan, workdir: Path, say: Say
) -> None:
    """Send throughput, then API latency, on one server."""
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
                f"  send, one process: {plan.messages} messages, {plan.concurrency} in flight, "
                f"{plan.recipients} recipients ..."
            )
            run.send = await measure_send([api], session_id, plan, [server])
            say(_sent_line(run.send))
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
