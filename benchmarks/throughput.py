"""End-to-end send throughput: POST N messages, time until all N are committed as ``sent``.

The POSTs run closed-loop with a fixed number in flight, spread over several
recipients (one chat's messages go out in order, so one recipient would
measure a single chat's queue). Two rates come out of one run:

* accepted/s: N / time from the first POST to the last 202 (API ingest);
* sent/s: N / time from the first POST until the database says all N are
  ``sent`` (the simulator acknowledges instantly, so this is wagate's own
  pipeline: accept, claim, mark sending, transmit, mark sent).

The rate at which the backlog left after the last 202 is drained is kept too:
it is the sender's speed without API requests competing for the CPU.

With several servers on one database (``apis`` and ``servers`` of more than
one), the workers are spread over them round robin, and ``counter`` (the
process that holds the session's lease) is the one asked for the counts:
the ``sent`` count is the shared database's either way.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from benchmarks.api import Api
from benchmarks.plan import Plan
from benchmarks.server import WagateServer

POLL_S = 0.1  # /metrics costs the server a GROUP BY; 10 Hz keeps that small


@dataclass
class SendResult:
    requested: int
    accepted: int
    errors: int
    error_samples: dict[str, int] = field(default_factory=dict)
    accept_s: float = 0.0
    sent: int = 0
    sent_at_accept_end: int = 0
    sent_s: float | None = None
    timed_out: bool = False
    on_network: int | None = None
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    processes: int = 1
    accepted_by_process: list[int] = field(default_factory=list)

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.accept_s if self.accept_s > 0 else 0.0

    @property
    def sent_per_s(self) -> float:
        if self.sent_s is None or self.sent_s <= 0:
            return 0.0
        return self.sent / self.sent_s

    @property
    def drain_per_s(self) -> float | None:
        """The sender alone: messages sent per second after the last POST was answered."""
        if self.sent_s is None or self.sent_s <= self.accept_s:
            return None
        backlog = self.sent - self.sent_at_accept_end
        return backlog / (self.sent_s - self.accept_s) if backlog > 0 else None

    @property
    def server_cpu_share(self) -> float:
        """Server CPU (all processes) over the phase, as a share of one core (1.0 = one core)."""
        span = self.sent_s if self.sent_s else self.accept_s
        return self.server_cpu_s / span if span else 0.0


def recipient(i: int, recipients: int) -> str:
    return f"55119{(i % recipients):08d}"


async def measure_send(
    apis: Sequence[Api],
    session_id: str,
    plan: Plan,
    servers: Sequence[WagateServer],
    *,
    counter: Api | None = None,
) -> SendResult:
    n = plan.messages
    counter = counter or apis[0]
    path = f"/v1/sessions/{session_id}/messages"
    result = SendResult(requested=n, accepted=0, errors=0, processes=len(servers))
    accepted = [0] * len(apis)
    errors: Counter[str] = Counter()
    indexes = iter(range(n))  # shared by the workers: each takes the next index

    async def worker(k: int) -> None:
        api = apis[k % len(apis)]
        for i in indexes:
            body = {"to": recipient(i, plan.recipients), "text": f"bench message {i}"}
            try:
                status = await api.status_of("POST", path, body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors[type(exc).__name__] += 1
                continue
            if status == 202:
                accepted[k % len(apis)] += 1
            else:
                errors[f"HTTP {status}"] += 1

    def server_cpu() -> float:
        return sum(server.cpu_seconds() for server in servers)

    before = await counter.outbound_sent_count()
    loop = asyncio.get_running_loop()
    cpu0, client0 = server_cpu(), time.process_time()
    t0 = loop.time()
    workers = [asyncio.create_task(worker(k)) for k in range(plan.concurrency)]
    try:
        await asyncio.wait_for(asyncio.gather(*workers), plan.send_deadline_s)
    except TimeoutError:
        result.timed_out = True
    result.accept_s = loop.time() - t0
    result.accepted_by_process = accepted
    result.accepted = sum(accepted)
    result.errors = sum(errors.values())
    result.error_samples = dict(errors.most_common(5))

    deadline = t0 + plan.send_deadline_s
    sent = await counter.outbound_sent_count() - before
    result.sent_at_accept_end = sent
    while sent < result.accepted and loop.time() < deadline:
        await asyncio.sleep(POLL_S)
        sent = await counter.outbound_sent_count() - before
    now = loop.time()
    result.sent = sent
    if sent >= result.accepted and not result.timed_out:
        result.sent_s = now - t0
    else:
        result.timed_out = True
        result.sent_s = now - t0  # a lower bound: the rate of what did get sent in time
    result.server_cpu_s = server_cpu() - cpu0
    result.client_cpu_s = time.process_time() - client0
    result.on_network = await counter.simulator_sent_count(session_id)
    return result
