"""The outage drill as a benchmark: the receiver fails, the server restarts, the receiver recovers.

A server of its own (``WAGATE_WORKER_ID=bench-outage``, fresh database,
``WAGATE_ALLOW_PRIVATE_URLS=true``, ``WAGATE_WEBHOOK_RETRY_SCHEDULE_S`` =
:data:`benchmarks.plan.OUTAGE_RETRY_SCHEDULE_S`), a receiver process that
verifies every signature, one webhook on ``*`` made before the session exists
(so every event of the log is for it), and the session's own events delivered
before the outage starts. Then:

1. the receiver answers 500 to every (verified) request, for ``outage_s``;
2. inbound messages are made at ``outage_rate`` per second, one call each;
3. half-way, the server gets SIGTERM, and is started again with the same
   environment once it has exited; the messages resume once the session is
   connected again;
4. at the end of the outage the receiver answers 204 again. The harness
   pages the whole log (``GET /v1/events``, ``after``) and waits, up to
   ``outage_drain_s``, until every event of it was accepted.

PASS: every event of the log arrived with a valid signature and its type,
nothing arrived that is not in the log, no delivery is dead, the receiver did
answer 500s, the server stopped cleanly on SIGTERM. Duplicates are allowed
(delivery is at-least-once, docs/webhooks.md) and counted.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.api import Api
from benchmarks.backends import Backend
from benchmarks.hookapi import (
    Calls,
    Comparison,
    compare,
    create_webhook,
    dead_deliveries,
    inbound,
    last_cursor,
    log_after,
    wait_all_arrived,
    wait_connected,
    wait_logged,
)
from benchmarks.plan import OUTAGE_RETRY_SCHEDULE_S, Plan
from benchmarks.receiver import Arrival, ReceiverProcess
from benchmarks.server import WagateServer

CHANNEL = "outage"


@dataclass
class OutageResult:
    outage_s: float
    rate: float
    schedule: list[float]
    before_outage: int = 0  # events delivered before the outage (the session's own)
    calls_before_restart: Calls = field(default_factory=Calls)
    calls_after_restart: Calls = field(default_factory=Calls)
    stop_s: float | None = None  # SIGTERM until the process exited
    exit_code: int | None = None
    ready_s: float | None = None  # spawn until /health answers
    outage_actual_s: float = 0.0  # the 500s on until the recovery
    refused: int = 0  # attempts answered 500
    bad_signatures: int = 0
    dead: int | None = None
    check: Comparison = field(default_factory=Comparison)
    backlog_at_recovery: int = 0  # events of the log first accepted after the recovery
    first_after_recovery_s: float | None = None
    drain_s: float | None = None  # recovery until every event of the log had arrived
    problems: list[str] = field(default_factory=list)
    unclean_stop: str | None = None  # at the end of the drill (the restart's stop is a check)

    @property
    def passed(self) -> bool:
        return not self.problems


async def paced(
    calls: Calls, api: Api, session_id: str, first: int, rate: float, until: float
) -> int:
    """Inbound messages ``first``, ``first + 1``, ... at ``rate`` per second until ``until``.

    One call at a time on a fixed schedule (a slow answer delays the next call,
    never adds a burst); bounded by the count that fits. The next free index.
    """
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    count = max(0, int((until - t0) * rate) + 1)
    for k in range(count):
        due = t0 + k / rate
        if due >= until:
            return first + k
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        if await inbound(api, session_id, first + k):
            calls.ok += 1
        else:
            calls.failed += 1
    return first + count


def server_for(backend_url: str, plan: Plan, workdir: Path) -> WagateServer:
    return WagateServer(
        database_url=backend_url,
        data_dir=workdir / "outage" / "data",
        log_path=workdir / "outage.log",
        worker_id="bench-outage",
        extra_env={
            "WAGATE_ALLOW_PRIVATE_URLS": "true",
            "WAGATE_WEBHOOK_RETRY_SCHEDULE_S": json.dumps(list(OUTAGE_RETRY_SCHEDULE_S)),
        },
    )


async def run_outage(
    backend: Backend, plan: Plan, workdir: Path, say: Callable[[str], None]
) -> OutageResult:
    result = OutageResult(plan.outage_s, plan.outage_rate, list(OUTAGE_RETRY_SCHEDULE_S))
    server = server_for(
        await backend.fresh_database_url(workdir / "outage" / "data"), plan, workdir
    )
    receiver = ReceiverProcess(
        workdir / "receiver-outage.log", max_s=plan.outage_s + plan.outage_drain_s + 300
    )
    try:
        async with receiver:
            await _drill(result, server, receiver, plan, say)
    except Exception as exc:  # a FAIL with the reason, not a crash of the whole run
        result.problems.append(f"{type(exc).__name__}: {exc}")
        say(traceback.format_exc())
    finally:
        await server.stop()
        if server.process is not None and not server.stopped_cleanly:
            result.unclean_stop = f"exit code {server.exit_code}; log ends:\n{server.log_tail()}"
    return result


async def _drill(
    result: OutageResult,
    server: WagateServer,
    receiver: ReceiverProcess,
    plan: Plan,
    say: Callable[[str], None],
) -> None:
    loop = asyncio.get_running_loop()
    await server.start()
    async with Api(server.url, server.api_key) as api:
        start = await last_cursor(api)
        hook = await create_webhook(api, receiver.hook_url(CHANNEL))
        await receiver.channel(CHANNEL, hook["secret"])
        session_id = await api.connected_simulator_session("outage")
        early = await log_after(api, start, 2)
        await wait_all_arrived(receiver, CHANNEL, early, 30.0)
        result.before_outage = len(early)
        say(
            f"  outage drill: receiver answers 500 for {plan.outage_s:.0f} s, "
            f"{plan.outage_rate:.0f} inbound messages/s, SIGTERM and restart half-way; "
            f"retry schedule {list(OUTAGE_RETRY_SCHEDULE_S)} ..."
        )
        t_out = await receiver.answer(500)
        half = t_out + plan.outage_s / 2
        nxt = await paced(result.calls_before_restart, api, session_id, 0, plan.outage_rate, half)
    t = loop.time()
    await server.stop()
    result.stop_s, result.exit_code = loop.time() - t, server.exit_code
    if not server.stopped_cleanly:
        result.problems.append(f"SIGTERM: the server exited with {server.exit_code}")
    t = loop.time()
    await server.start()
    result.ready_s = loop.time() - t
    say(
        f"    restarted: SIGTERM took {result.stop_s:.1f} s (exit code {result.exit_code}), "
        f"ready {result.ready_s:.1f} s after the spawn"
    )
    async with Api(server.url, server.api_key) as api:
        await wait_connected(api, session_id, 30.0)
        end = t_out + plan.outage_s
        await paced(result.calls_after_restart, api, session_id, nxt, plan.outage_rate, end)
        t_rec = await receiver.answer(204)
        result.outage_actual_s = t_rec - t_out
        made = result.calls_before_restart.ok + result.calls_after_restart.ok
        say(f"    receiver recovered after {result.outage_actual_s:.0f} s; {made} messages made")
        pages = made // 1000 + 3
        log = await wait_logged(api, start, 0, 30.0, received=made)
        deadline = t_rec + plan.outage_drain_s
        arrivals = await wait_all_arrived(receiver, CHANNEL, log, deadline - loop.time())
        log = await log_after(api, start, pages)  # anything logged late, waited for too
        arrivals = await wait_all_arrived(receiver, CHANNEL, log, max(1.0, deadline - loop.time()))
        result.dead = await dead_deliveries(api, hook["id"])
    stats = await receiver.stats(CHANNEL)
    result.refused, result.bad_signatures = int(stats["refused"]), int(stats["bad_signatures"])
    result.check = compare(log, arrivals)
    _timings(result, log, arrivals, t_rec)
    judge(result, plan)


def _timings(
    result: OutageResult, log: list[dict[str, Any]], arrivals: dict[str, Arrival], t_rec: float
) -> None:
    after = [arrivals[e["id"]].first_at for e in log if e["id"] in arrivals]
    after = [t for t in after if t >= t_rec]
    result.backlog_at_recovery = len(after) + result.check.missing
    if after:
        result.first_after_recovery_s = min(after) - t_rec
        if not result.check.missing:
            result.drain_s = max(after) - t_rec


def judge(result: OutageResult, plan: Plan) -> None:
    check = result.check
    counts = [
        (check.missing, f"events of the log never arrived ({plan.outage_drain_s:.0f} s waited)"),
        (result.bad_signatures, "requests failed signature verification"),
        (check.type_mismatches, "events arrived with another type than the log's"),
        (check.not_in_log, "accepted ids are not events of the log"),
        (result.dead or 0, "deliveries are dead"),
    ]
    result.problems += [f"{count} {what}" for count, what in counts if count]
    if not result.refused:
        result.problems.append("the receiver never answered 500: no outage was exercised")
    if not (result.calls_before_restart.ok and result.calls_after_restart.ok):
        result.problems.append("no events were made on one side of the restart")
