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
    # the same send throughput with two servers on one PostgreSQL database
    two_process_poll_s: float  # WAGATE_SENDER_POLL_S of both servers in that run
    # API latency at a fixed request rate (open loop)
    rate: float
    duration_s: float
    max_in_flight: int
    drain_s: float
    # the crash drill: a burst, SIGKILL mid-send, restart, check every message arrived once
    drill_messages: int
    drill_chats: int
    drill_concurrency: int
    drill_burst_s: float  # deadline of the burst (the kill must come within it)
    drill_recover_s: float  # deadline from the restart until every stored message is sent


FULL = Plan(
    name="full",
    commits=3000,
    commit_max_s=10.0,
    messages=2000,
    concurrency=32,
    recipients=20,
    send_deadline_s=100.0,
    two_process_poll_s=0.05,
    rate=200.0,
    duration_s=10.0,
    max_in_flight=256,
    drain_s=15.0,
    drill_messages=10_000,
    drill_chats=100,
    drill_concurrency=32,
    drill_burst_s=120.0,
    drill_recover_s=120.0,
)

QUICK = Plan(
    name="quick",
    commits=500,
    commit_max_s=3.0,
    messages=200,
    concurrency=32,
    recipients=20,
    send_deadline_s=30.0,
    two_process_poll_s=0.05,
    rate=50.0,
    duration_s=3.0,
    max_in_flight=64,
    drain_s=10.0,
    drill_messages=1_000,
    drill_chats=100,
    drill_concurrency=32,
    drill_burst_s=60.0,
    drill_recover_s=60.0,
)
