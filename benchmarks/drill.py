"""The crash drill as a benchmark: SIGKILL mid-burst, restart, count what arrived.

One server (stable ``WAGATE_WORKER_ID``, so the restarted process takes its
session back at once) accepts a burst of messages to many chats. When a
quarter of the burst has reached the simulated network, the server is killed
with SIGKILL; the POSTs still open fail and the rest are not sent. The server
is started again with the same environment, and the harness waits until no
stored outbound message is ``queued`` or ``sending``. Then it checks, from
``GET /v1/simulator/{id}/sent`` and the stored messages, that every
acknowledged (202) message and every stored message arrived exactly once.

How far the burst got is read from the simulator's ledger file
(``<data dir>/simulator/<session>.sent.jsonl``, one line per transmission):
the simulated network lives outside the gateway's database, and reading the
file costs the server nothing, unlike polling ``/sent`` with thousands of
items. Before the kill nothing is transmitted twice, so lines = arrivals.
"""

from __future__ import annotations

import asyncio
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.api import Api
from benchmarks.backends import Backend
from benchmarks.plan import Plan
from benchmarks.server import WagateServer
from benchmarks.throughput import recipient
from wagate.transports.simulator.ledger import ledger_path

KILL_AT = 0.25  # share of the burst on the network when the server is killed
POLL_S = 0.02  # the ledger file: a cheap read of what was appended since the last one
SENT_POLL_S = 0.1  # /metrics after the restart
OPEN = ("queued", "sending")


@dataclass
class DrillResult:
    messages: int
    chats: int
    kill_target: int
    acknowledged: int = 0
    post_errors: int = 0
    killed: bool = False
    on_network_at_kill: int = 0
    acknowledged_at_kill: int = 0
    kill_after_s: float = 0.0  # from the first POST to the kill
    ready_s: float | None = None  # from the restart until /health answers
    recover_s: float | None = None  # from the restart until every stored message is sent
    stored: int = 0
    stored_not_sent: int = 0
    arrived: int = 0
    transmissions: int = 0
    duplicates: int = 0
    lost: int = 0
    acknowledged_not_stored: int = 0
    arrived_not_stored: int = 0
    wa_id_mismatches: int = 0
    retransmitted: int = 0
    problems: list[str] = field(default_factory=list)
    unclean_stop: str | None = None

    @property
    def passed(self) -> bool:
        return not self.problems


class LedgerCount:
    """Transmissions in a growing ledger file: the newlines appended so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.lines = 0

    def read(self) -> int:
        try:
            with open(self.path, "rb") as file:
                file.seek(self.offset)
                data = file.read()
        except FileNotFoundError:
            return self.lines
        self.offset += len(data)
        self.lines += data.count(b"\n")
        return self.lines


async def burst_and_kill(
    api: Api, server: WagateServer, session_id: str, plan: Plan, result: DrillResult
) -> list[str]:
    """POST the burst; SIGKILL the server once ``kill_target`` messages reached the network."""
    path = f"/v1/sessions/{session_id}/messages"
    ledger = LedgerCount(ledger_path(Path(server.env["WAGATE_DATA_DIR"]) / "simulator", session_id))
    acknowledged: list[str] = []
    killed = asyncio.Event()
    indexes = iter(range(plan.drill_messages))
    loop = asyncio.get_running_loop()
    t0 = loop.time()

    async def worker() -> None:
        for i in indexes:
            if killed.is_set():
                return
            body = {"to": recipient(i, plan.drill_chats), "text": f"drill message {i}"}
            try:
                status, answer = await api.call("POST", path, body)
            except (aiohttp.ClientError, TimeoutError):
                result.post_errors += 1  # the server died while this request was open
                continue
            if status == 202:
                acknowledged.append(str(answer["id"]))
            else:
                result.post_errors += 1

    async def killer() -> None:
        deadline = t0 + plan.drill_burst_s
        for _ in range(int(plan.drill_burst_s / POLL_S) + 1):  # and the deadline, whichever first
            if ledger.read() >= result.kill_target or loop.time() >= deadline:
                break
            await asyncio.sleep(POLL_S)
        result.on_network_at_kill = ledger.lines
        result.acknowledged_at_kill = len(acknowledged)
        result.kill_after_s = loop.time() - t0
        if ledger.lines < result.kill_target:
            result.problems.append(
                f"only {ledger.lines} of {result.kill_target} messages reached the network "
                f"within {plan.drill_burst_s:.0f} s; killed then"
            )
        killed.set()  # no new POSTs from here on; the ones open now fail with the server
        await server.kill()
        result.killed = True

    workers = [asyncio.create_task(worker()) for _ in range(plan.drill_concurrency)]
    kill = asyncio.create_task(killer())
    try:
        await asyncio.wait_for(asyncio.gather(kill, *workers), plan.drill_burst_s + 30)
    except TimeoutError:
        result.problems.append("the burst did not end within its deadline")
        await server.kill()
    result.acknowledged = len(acknowledged)
    return acknowledged


async def wait_until_settled(api: Api, plan: Plan) -> bool:
    """Until no outbound message is queued or sending (polled, bounded in time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + plan.drill_recover_s
    while loop.time() < deadline:
        counts = await api.outbound_counts()
        if counts and not any(counts.get(status, 0) for status in OPEN):
            return True
        await asyncio.sleep(SENT_POLL_S)
    return False


def judge(
    result: DrillResult,
    acknowledged: list[str],
    stored: list[dict[str, Any]],
    network: list[dict[str, Any]],
) -> None:
    acked = set(acknowledged)
    stored_ids = {str(m["id"]) for m in stored}
    arrivals = Counter(str(item["message_id"]) for item in network)
    arrived = set(arrivals)
    result.stored = len(stored_ids)
    result.stored_not_sent = sum(1 for m in stored if m["status"] != "sent")
    result.arrived = len(arrived)
    result.transmissions = sum(int(item["transmissions"]) for item in network)
    result.duplicates = sum(n - 1 for n in arrivals.values())
    result.lost = len((acked | stored_ids) - arrived)
    result.acknowledged_not_stored = len(acked - stored_ids)
    result.arrived_not_stored = len(arrived - stored_ids)
    result.retransmitted = sum(1 for item in network if int(item["transmissions"]) > 1)
    wa_ids = {str(item["message_id"]): item["wa_message_id"] for item in network}
    result.wa_id_mismatches = sum(
        1 for m in stored if str(m["id"]) in wa_ids and wa_ids[str(m["id"])] != m["wa_message_id"]
    )
    checks = [
        (result.duplicates, "messages arrived more than once"),
        (result.lost, "acknowledged or stored messages never arrived"),
        (result.acknowledged_not_stored, "acknowledged messages are not stored"),
        (result.arrived_not_stored, "messages arrived that are not stored"),
        (result.stored_not_sent, "stored messages are not `sent`"),
        (result.wa_id_mismatches, "stored WhatsApp ids differ from the network's"),
    ]
    result.problems += [f"{count} {what}" for count, what in checks if count]
    if len(acked) != len(acknowledged):
        result.problems.append("the same message id was acknowledged twice")


async def run_drill(
    backend: Backend, plan: Plan, workdir: Path, say: Callable[[str], None]
) -> DrillResult:
    data_dir = workdir / "drill" / "data"
    server = WagateServer(
        database_url=await backend.fresh_database_url(data_dir),
        data_dir=data_dir,
        log_path=workdir / "drill.log",
        worker_id="bench-drill",
    )
    result = DrillResult(
        messages=plan.drill_messages,
        chats=plan.drill_chats,
        kill_target=int(plan.drill_messages * KILL_AT),
    )
    loop = asyncio.get_running_loop()
    try:
        await server.start()
        async with Api(server.url, server.api_key) as api:
            session_id = await api.connected_simulator_session("drill")
            say(
                f"  crash drill: {plan.drill_messages} messages to {plan.drill_chats} chats, "
                f"{plan.drill_concurrency} in flight; SIGKILL at {result.kill_target} arrived"
            )
            acknowledged = await burst_and_kill(api, server, session_id, plan, result)
        say(
            f"    killed after {result.kill_after_s:.1f} s: {result.on_network_at_kill} on the "
            f"network, {result.acknowledged} acknowledged; restarting ..."
        )
        restarted = loop.time()
        await server.start()
        result.ready_s = loop.time() - restarted
        async with Api(server.url, server.api_key) as api:
            if await wait_until_settled(api, plan):
                result.recover_s = loop.time() - restarted
            else:
                result.problems.append(
                    f"messages still open {plan.drill_recover_s:.0f} s after the restart"
                )
            pages = plan.drill_messages // 500 + 2
            stored = await api.outbound_messages(session_id, max_pages=pages)
            network = await api.simulator_sent(session_id)
        judge(result, acknowledged, stored, network)
    except Exception as exc:  # a FAIL with the reason, not a crash of the whole run
        result.problems.append(f"{type(exc).__name__}: {exc}")
        say(traceback.format_exc())
    finally:
        await server.stop()
        if server.process is not None and not server.stopped_cleanly:
            result.unclean_stop = f"exit code {server.exit_code}; log ends:\n{server.log_tail()}"
    return result
