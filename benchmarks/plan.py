"""How much work each benchmark does: the full run and the ``--quick`` smoke run.

Every loop in the harness is bounded by a count from here and by a deadline,
so a slow or stuck server makes the run report less, never hang.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    # baseline: raw commits
    commits: int
    commit_max_s: float
    # end-to-end send throughput
    messages: int
    concurrency: int
    recipients: int
    send_deadline_s: float
    # API latency at a fixed request rate (open loop)
    rate: float
    duration_s: float
    max_in_flight: int
    drain_s: float


FULL = Plan(
    name="full",
    commits=3000,
    commit_max_s=10.0,
    messages=2000,
    concurrency=32,
    recipients=20,
    send_deadline_s=100.0,
    rate=200.0,
    duration_s=10.0,
    max_in_flight=256,
    drain_s=15.0,
)

QUICK = Plan(
    name="quick",
    commits=500,
    commit_max_s=3.0,
    messages=200,
    concurrency=32,
    recipients=20,
    send_deadline_s=30.0,
    rate=50.0,
    duration_s=3.0,
    max_in_flight=64,
    drain_s=10.0,
)
