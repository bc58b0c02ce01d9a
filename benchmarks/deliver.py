"""Webhook delivery throughput, beside plain signed POSTs to the same receiver.

A ``wagate serve`` of its own (fresh database, ``WAGATE_ALLOW_PRIVATE_URLS=true``
so it may post to 127.0.0.1, ``WAGATE_WEBHOOK_MAX_IN_FLIGHT`` = the plan's
``hook_in_flight``), a receiver process (``receiver_app.py``) that verifies
every signature, and one webhook on ``*`` made before the session exists.

1. One warm-up inbound message; its event, as a webhook body, is the body of
2. the raw POSTs: ``hook_raw_posts`` signed POSTs from the harness (one
   aiohttp client, ``hook_in_flight`` in flight) to the same receiver.
3. Live: ``hook_events`` inbound messages (one event per call), with
   ``hook_generators`` calls in flight, while the webhook delivers.
   Delivered/s = events / time from the first call until the receiver first
   accepted the last of them (the receiver's clock, CLOCK_MONOTONIC like ours).
4. Backlog: the webhook is disabled, ``hook_events`` more inbound messages are
   logged, the webhook is enabled; delivered/s = events / time from the enable
   call until the last of them was first accepted: delivery alone, no ingest.

Finally the whole log since the webhook was made is paged and compared with
the receiver's arrivals: every event there, signature valid, type right.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.api import Api, ApiError
from benchmarks.backends import Backend
from benchmarks.hookapi import (
    Calls,
    Comparison,
    compare,
    create_webhook,
    delivery_body,
    generate,
    inbound,
    last_cursor,
    log_after,
    set_enabled,
    wait_all_arrived,
    wait_logged,
)
from benchmarks.plan import Plan
from benchmarks.rawpost import RawPosts, raw_posts
from benchmarks.receiver import ReceiverProcess
from benchmarks.server import WagateServer

CHANNEL = "deliver"


@dataclass
class Leg:
    """One timed batch of events: made live, or as a backlog delivered after an enable."""

    calls: Calls = field(default_factory=Calls)
    logged: int = 0
    generate_s: float = 0.0  # first call until the last was answered
    delivered_s: float | None = None  # from t0 until the last event was first accepted
    delivered_by_generate_end: int = 0
    timed_out: bool = False
    server_cpu_s: float = 0.0
    receiver_cpu_s: float = 0.0
    last_cursor: str = "0"

    @property
    def generated_per_s(self) -> float:
        return self.logged / self.generate_s if self.generate_s > 0 else 0.0

    @property
    def delivered_per_s(self) -> float:
        return self.logged / self.delivered_s if self.delivered_s else 0.0

    @property
    def server_cpu_share(self) -> float:
        return self.server_cpu_s / self.delivered_s if self.delivered_s else 0.0


@dataclass
class DeliveryRun:
    events: int
    generators: int
    in_flight: int
    raw: RawPosts | None = None
    live: Leg | None = None
    backlog: Leg | None = None
    check: Comparison | None = None
    bad_signatures: int = 0
    refused: int = 0
    problems: list[str] = field(default_factory=list)
    unclean_stop: str | None = None

    def ratio(self, leg: Leg | None) -> float | None:
        if leg is None or self.raw is None or self.raw.per_s <= 0 or not leg.delivered_s:
            return None
        return leg.delivered_per_s / self.raw.per_s


async def measure_delivery(
    backend: Backend, plan: Plan, workdir: Path, say: Callable[[str], None]
) -> DeliveryRun:
    run = DeliveryRun(plan.hook_events, plan.hook_generators, plan.hook_in_flight)
    data_dir = workdir / "hooks" / "data"
    server = WagateServer(
        database_url=await backend.fresh_database_url(data_dir),
        data_dir=data_dir,
        log_path=workdir / "hooks.log",
        worker_id="bench-hooks",
        extra_env={
            "WAGATE_ALLOW_PRIVATE_URLS": "true",
            "WAGATE_WEBHOOK_MAX_IN_FLIGHT": str(plan.hook_in_flight),
        },
    )
    receiver = ReceiverProcess(workdir / "receiver-hooks.log", max_s=4 * plan.hook_deadline_s + 300)
    async with receiver, server, Api(server.url, server.api_key) as api:
        start = await last_cursor(api)
        hook = await create_webhook(api, receiver.hook_url(CHANNEL))
        await receiver.channel(CHANNEL, hook["secret"])
        session_id = await api.connected_simulator_session("hooks")
        if not await inbound(api, session_id, -1):
            raise ApiError("the warm-up inbound message was refused")
        warm = await wait_logged(api, start, 1, 30.0, received=1)
        await wait_all_arrived(receiver, CHANNEL, warm, 30.0)
        sample = next(e for e in warm if e["type"] == "message.received")
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        say(
            f"  webhooks: {plan.hook_raw_posts} plain signed POSTs to the receiver, "
            f"{plan.hook_in_flight} in flight ..."
        )
        run.raw = await raw_posts(
            receiver,
            secret,
            delivery_body(sample),
            count=plan.hook_raw_posts,
            concurrency=plan.hook_in_flight,
            deadline_s=plan.hook_deadline_s,
        )
        say(f"    {run.raw.per_s:,.0f} POSTs/s ({run.raw.errors} errors)")
        say(
            f"  webhooks, live: {plan.hook_events} inbound messages ({plan.hook_generators} calls "
            "in flight, 1 event each) delivered to a webhook on * while they are made ..."
        )
        run.live = await live_leg(api, server, receiver, session_id, warm[-1]["cursor"], plan)
        say(f"    delivered {run.live.delivered_per_s:,.0f} events/s end to end")
        say(
            f"  webhooks, backlog: webhook disabled, {plan.hook_events} inbound messages, "
            "enabled, delivered ..."
        )
        before = await last_cursor(api, run.live.last_cursor)
        run.backlog = await backlog_leg(api, server, receiver, session_id, hook["id"], before, plan)
        say(f"    delivered {run.backlog.delivered_per_s:,.0f} events/s after the enable")
        pages = 2 * plan.hook_events // 1000 + 3
        run.check = compare(await log_after(api, start, pages), await receiver.arrivals(CHANNEL))
        stats = await receiver.stats(CHANNEL)
        run.bad_signatures, run.refused = int(stats["bad_signatures"]), int(stats["refused"])
    if not server.stopped_cleanly:
        run.unclean_stop = f"exit code {server.exit_code}; log ends:\n{server.log_tail()}"
    judge(run)
    return run


async def _finish(
    leg: Leg,
    api: Api,
    receiver: ReceiverProcess,
    before: str,
    t0: float,
    gen_end: float,
    deadline: float,
) -> None:
    """Wait (bounded) until the events after ``before`` all arrived; time them from ``t0``."""
    loop = asyncio.get_running_loop()
    made = await wait_logged(api, before, leg.calls.ok, max(1.0, deadline - loop.time()))
    arrivals = await wait_all_arrived(receiver, CHANNEL, made, max(1.0, deadline - loop.time()))
    leg.logged = len(made)
    leg.last_cursor = str(made[-1]["cursor"]) if made else before
    firsts = [arrivals[e["id"]].first_at for e in made if e["id"] in arrivals]
    leg.delivered_by_generate_end = sum(1 for t in firsts if t <= gen_end)
    if made and len(firsts) == len(made):
        leg.delivered_s = max(firsts) - t0
    else:
        leg.timed_out = True


async def live_leg(
    api: Api,
    server: WagateServer,
    receiver: ReceiverProcess,
    session_id: str,
    before: str,
    plan: Plan,
) -> Leg:
    leg = Leg()
    loop = asyncio.get_running_loop()
    cpu0, receiver0 = server.cpu_seconds(), receiver.cpu_seconds()
    t0 = loop.time()
    deadline = t0 + plan.hook_deadline_s
    made = generate(leg.calls, api, session_id, 0, plan.hook_events, plan.hook_generators)
    try:
        await asyncio.wait_for(made, plan.hook_deadline_s)
    except TimeoutError:
        leg.timed_out = True
    leg.generate_s = loop.time() - t0
    await _finish(leg, api, receiver, before, t0, t0 + leg.generate_s, deadline)
    leg.server_cpu_s = server.cpu_seconds() - cpu0
    leg.receiver_cpu_s = receiver.cpu_seconds() - receiver0
    return leg


async def backlog_leg(
    api: Api,
    server: WagateServer,
    receiver: ReceiverProcess,
    session_id: str,
    webhook_id: str,
    before: str,
    plan: Plan,
) -> Leg:
    leg = Leg()
    loop = asyncio.get_running_loop()
    await set_enabled(api, webhook_id, False)
    g0 = loop.time()
    first = plan.hook_events  # the live leg's inbound messages were 0 .. hook_events - 1
    made = generate(leg.calls, api, session_id, first, plan.hook_events, plan.hook_generators)
    try:
        await asyncio.wait_for(made, plan.hook_deadline_s)
    except TimeoutError:
        leg.timed_out = True
    leg.generate_s = loop.time() - g0
    await wait_logged(api, before, leg.calls.ok, 30.0)  # the whole backlog is in the log
    cpu0, receiver0 = server.cpu_seconds(), receiver.cpu_seconds()
    t0 = loop.time()
    await set_enabled(api, webhook_id, True)
    await _finish(leg, api, receiver, before, t0, t0, t0 + plan.hook_deadline_s)
    leg.delivered_by_generate_end = 0  # nothing is delivered while the webhook is disabled
    leg.server_cpu_s = server.cpu_seconds() - cpu0
    leg.receiver_cpu_s = receiver.cpu_seconds() - receiver0
    return leg


def judge(run: DeliveryRun) -> None:
    check = run.check
    if check is None:
        return
    timed_out = any(leg is not None and leg.timed_out for leg in (run.live, run.backlog))
    counts = [
        (run.bad_signatures, "requests failed signature verification"),
        (check.type_mismatches, "events arrived with another type than the log's"),
        (check.not_in_log, "accepted ids are not events of the log"),
        (0 if timed_out else check.missing, "events of the log never arrived"),
    ]
    run.problems += [f"{count} {what}" for count, what in counts if count]
    for name, leg in (("live", run.live), ("backlog", run.backlog)):
        if leg is not None and leg.logged < leg.calls.ok:
            run.problems.append(
                f"{name}: {leg.calls.ok} inbound calls accepted but {leg.logged} events logged"
            )
