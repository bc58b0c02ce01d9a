"""The fleet (PostgreSQL only): send throughput with 1, 2 and 4 ``wagate serve`` processes
on one database, the lease machinery's share of all commits, and the chaos drill large.

For each fleet size, a fresh database and ``plan.fleet_sessions`` linked simulator
sessions spread over the workers, then:

* **steady**: ``plan.fleet_rate`` messages a second for ``plan.fleet_steady_s`` through
  the workers in turn; the lease commits (``wagate_lease_commits_total``: claims,
  renewals with heartbeats, releases) as a share of every commit (``wagate_db_commits``)
  of the fleet in that window. The goal is at most 5 %.
* **burst**: ``plan.fleet_messages`` accepted as fast as the workers take them, timed
  until the last one is sent; messages sent per second as a ratio to one worker, with
  commits and CPU seconds (the workers' own, from ``/proc``) per message.

Then the chaos drill of ``tests/cli/test_fleet_chaos.py`` with three workers and every
session: SIGKILL one under steady sends, SIGSTOP another past its TTL and SIGCONT it,
restart the first; nothing lost or doubled, no conflict on the simulated network, and
how long the dead and the frozen workers' sessions took to run again.

The workers run on one machine, so the scaling ratios say what the database and the
lease machinery allow on its cores, not what separate machines would add.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.process_fleet import ProcessFleet, Traffic, Worker

from benchmarks.backends import Backend
from benchmarks.plan import Plan

Say = Callable[[str], None]
CHAOS_TTL_S = 6.0
SCALES = (1, 2, 4)


@dataclass
class ScaleRun:
    workers: int
    sent_per_s: float = 0.0
    commits_per_message: float = 0.0
    cpu_ms_per_message: float = 0.0
    steady_commits: int = 0
    steady_lease_commits: int = 0

    @property
    def lease_share(self) -> float:
        return self.steady_lease_commits / self.steady_commits if self.steady_commits else 0.0


@dataclass
class ChaosRun:
    sessions: int = 0
    accepted: int = 0
    retried: int = 0
    lost: int = 0
    doubled: int = 0
    conflicts: int = 0
    kill_lag_s: float = 0.0
    freeze_lag_s: float = 0.0
    bound_s: float = 0.0

    @property
    def passed(self) -> bool:
        lags_ok = max(self.kill_lag_s, self.freeze_lag_s) <= self.bound_s
        return not (self.lost or self.doubled or self.conflicts) and lags_ok


@dataclass
class FleetResult:
    scales: list[ScaleRun] = field(default_factory=list)
    chaos: ChaosRun | None = None
    problems: list[str] = field(default_factory=list)

    def ratio(self, run: ScaleRun) -> float:
        one = next((s for s in self.scales if s.workers == 1), None)
        return run.sent_per_s / one.sent_per_s if one and one.sent_per_s else 0.0


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _commits(fleet: ProcessFleet) -> tuple[int, int]:
    """(all commits, lease commits) of the workers that are up, from their /metrics."""
    total = lease = 0
    for worker in fleet.up():
        async with fleet.client(worker) as api:
            text = (await api.get("/metrics")).text
        total += int(_metric(text, "wagate_db_commits_total"))
        lease += int(_metric(text, "wagate_lease_commits_total"))
    return total, lease


def _cpu_s(workers: list[Worker]) -> float:
    """User and system CPU seconds the workers used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for worker in workers:
        fields = Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


async def _burst(fleet: ProcessFleet, sessions: list[str], count: int) -> float:
    """Accept ``count`` messages 32 at a time through the workers in turn; seconds until
    every one is sent."""
    gate = asyncio.Semaphore(32)
    workers = fleet.up()
    clients = [fleet.client(w) for w in workers]
    started = time.monotonic()

    async def one(n: int) -> None:
        async with gate:
            response = await clients[n % len(clients)].post(
                f"/v1/sessions/{sessions[n % len(sessions)]}/messages",
                json={"to": f"55119{n % 50:08d}", "text": f"burst {n}"},
            )
            assert response.status_code == 202, response.text

    try:
        await asyncio.gather(*(one(n) for n in range(count)))
    finally:
        for client in clients:
            await client.aclose()

    await fleet.drained(timeout=600)
    return time.monotonic() - started


async def _scale(backend: Backend, plan: Plan, workdir: Path, workers: int, say: Say) -> ScaleRun:
    url = await backend.fresh_database_url(workdir)
    run = ScaleRun(workers=workers)
    async with ProcessFleet(
        url, workdir / f"fleet-{workers}", workers=workers, lease_ttl_s=30.0
    ) as fleet:
        sessions = await fleet.linked_sessions(plan.fleet_sessions)
        before = await _commits(fleet)
        traffic = Traffic(fleet, sessions, rate=plan.fleet_rate, paced=False)
        traffic.start()
        await asyncio.sleep(plan.fleet_steady_s)
        await traffic.stop()
        after = await _commits(fleet)
        run.steady_commits = after[0] - before[0]
        run.steady_lease_commits = after[1] - before[1]

        before = await _commits(fleet)
        cpu_before = _cpu_s(fleet.workers)
        seconds = await _burst(fleet, sessions, plan.fleet_messages)
        cpu = _cpu_s(fleet.workers) - cpu_before
        after = await _commits(fleet)
        run.sent_per_s = plan.fleet_messages / seconds
        run.commits_per_message = (after[0] - before[0]) / plan.fleet_messages
        run.cpu_ms_per_message = cpu * 1000 / plan.fleet_messages
        fleet.stop_all()
    say(
        f"    {workers} worker(s): sent {run.sent_per_s:,.0f}/s, "
        f"{run.commits_per_message:.2f} commits and {run.cpu_ms_per_message:.2f} ms CPU per "
        f"message; steady {plan.fleet_rate:.0f}/s: lease commits {run.steady_lease_commits} "
        f"of {run.steady_commits} ({run.lease_share:.1%})"
    )
    return run


async def _chaos(backend: Backend, plan: Plan, workdir: Path, say: Say) -> ChaosRun:
    url = await backend.fresh_database_url(workdir)
    run = ChaosRun(sessions=plan.fleet_sessions, bound_s=CHAOS_TTL_S * 4 / 3 + 2.0)
    async with ProcessFleet(
        url, workdir / "chaos", workers=3, lease_ttl_s=CHAOS_TTL_S, WAGATE_MOVES_PER_MINUTE="120"
    ) as fleet:
        sessions = await fleet.linked_sessions(plan.fleet_sessions)
        traffic = Traffic(fleet, sessions, rate=plan.fleet_rate)
        traffic.start()
        await asyncio.sleep(3)
        _w1, w2, w3 = fleet.workers
        killed_at = fleet.kill(w3)
        run.kill_lag_s = await fleet.taken_over(sessions, w3, killed_at)
        frozen_at = fleet.freeze(w2)
        run.freeze_lag_s = await fleet.taken_over(sessions, w2, frozen_at)
        await asyncio.sleep(max(0.0, frozen_at + CHAOS_TTL_S + 1 - time.time()))
        fleet.thaw(w2)
        await fleet.restart(w3)
        await asyncio.sleep(5)
        await traffic.stop()

        await fleet.drained(timeout=300)
        await fleet.all_connected(sessions, timeout=120)
        fleet.stop_all()
    arrivals = fleet.arrivals(sessions)
    run.accepted, run.retried = len(traffic.accepted), traffic.retried
    run.doubled = sum(1 for n in arrivals.values() if n > 1)
    run.lost = len(set(traffic.accepted.values()) - set(arrivals))
    run.conflicts = len(fleet.conflicts(sessions))
    say(
        f"    chaos, 3 workers, {run.sessions} sessions: {run.accepted} accepted "
        f"({run.retried} retried), {run.lost} lost, {run.doubled} doubled, {run.conflicts} "
        f"conflicts; sessions ran again {run.kill_lag_s:.2f} s after the SIGKILL and "
        f"{run.freeze_lag_s:.2f} s after the SIGSTOP (bound {run.bound_s:.2f} s): "
        + ("PASS" if run.passed else "FAIL")
    )
    return run


async def measure_fleet(backend: Backend, plan: Plan, workdir: Path, say: Say) -> FleetResult:
    result = FleetResult()
    say(
        f"  fleet: {plan.fleet_sessions} sessions; {plan.fleet_rate:.0f} messages/s for "
        f"{plan.fleet_steady_s:.0f} s, then {plan.fleet_messages} at once, on "
        + ", ".join(str(n) for n in SCALES)
        + " worker(s) ..."
    )
    for workers in SCALES:
        result.scales.append(await _scale(backend, plan, workdir, workers, say))
    for run in result.scales:
        say(f"    {run.workers} worker(s): {result.ratio(run):.2f} x one worker's send rate")
        if run.lease_share > 0.05:
            result.problems.append(
                f"lease commits are {run.lease_share:.1%} of all with {run.workers} workers"
            )
    result.chaos = await _chaos(backend, plan, workdir, say)
    if not result.chaos.passed:
        result.problems.append("the chaos drill failed")
    return result
