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
    # webhook delivery throughput: a receiver process, one webhook on `*`
    hook_events: int  # inbound messages through the simulator, one event each
    hook_generators: int  # inbound calls in flight
    hook_raw_posts: int  # the reference: plain signed POSTs from one aiohttp client
    hook_in_flight: int  # WAGATE_WEBHOOK_MAX_IN_FLIGHT, and the raw client's requests in flight
    hook_deadline_s: float  # from the first inbound call until every event arrived
    # the outage drill: the receiver answers 500, the server restarts, the receiver recovers
    outage_s: float
    outage_rate: float  # events/s generated during the outage (inbound messages)
    outage_drain_s: float  # deadline from the recovery until every event of the log arrived
    # many sessions on one worker: memory per idle session, reconnect storm, restore on boot
    sessions: int
    sessions_deadline_s: float  # for each step: connecting all, a storm, the restore
    # the conversation engine: chats writing at once to a brain that takes 1 s
    engine_chats: int = 500
    # the fast path against a bare FastAPI app: requests per route (closed loop), the open
    # loops' length, and the inbound rate held while a send burst runs
    fast_requests: int = 6000
    fast_open_s: float = 5.0
    fast_inbound_rate: float = 200.0
    # the fleet (PostgreSQL): 1, 2 and 4 workers, then the chaos drill with three
    fleet_sessions: int = 200
    fleet_rate: float = 20.0  # messages/s of the steady phase (lease share) and the drill
    fleet_steady_s: float = 30.0
    fleet_messages: int = 3000  # the burst timed per fleet size


# WAGATE_WEBHOOK_RETRY_SCHEDULE_S of the outage drill: 24 attempts over 208 s (at least
# 166 s with the -20 % jitter), so the first event of a 2-minute outage is still being
# retried when the receiver recovers. The gap between retries ends at 10 s, which bounds
# how long after the recovery the next probe comes.
OUTAGE_RETRY_SCHEDULE_S = (0.0, 1.0, 2.0, 5.0, *([10.0] * 20))


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
    hook_events=4000,
    hook_generators=16,
    hook_raw_posts=20_000,
    hook_in_flight=8,
    hook_deadline_s=120.0,
    outage_s=120.0,
    outage_rate=20.0,
    outage_drain_s=120.0,
    sessions=1000,
    sessions_deadline_s=300.0,
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
    hook_events=500,
    hook_generators=16,
    hook_raw_posts=2000,
    hook_in_flight=8,
    hook_deadline_s=60.0,
    outage_s=20.0,
    outage_rate=20.0,
    outage_drain_s=60.0,
    sessions=100,
    sessions_deadline_s=60.0,
    engine_chats=50,
    fast_requests=1000,
    fast_open_s=2.0,
    fleet_sessions=30,
    fleet_rate=10.0,
    fleet_steady_s=5.0,
    fleet_messages=300,
)
