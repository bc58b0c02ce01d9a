"""Send throughput with two ``wagate serve`` processes sharing one PostgreSQL database.

Both processes accept API requests and enqueue into the database; only the
one holding the session's lease sends. Its supervisor finds the messages the
other process accepted on its next poll, so both run with
``WAGATE_SENDER_POLL_S`` set to the plan's ``two_process_poll_s`` (0.05 s
instead of the default 1 s). Each process has its own data directory and its
own ``WAGATE_WORKER_ID``.

The session is created through the first process; ``/health``'s
``sessions_running_here`` of each process then tells which one holds the
lease (``GET /v1/sessions/{id}`` does not say), and the QR code is scanned
through that one, since the simulated phone lives in its process. The POSTs
are spread over both processes; ``sent`` is counted through the owner, from
the shared database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.api import Api, ApiError
from benchmarks.backends import Backend
from benchmarks.plan import Plan
from benchmarks.server import WagateServer
from benchmarks.throughput import SendResult, measure_send

OWNER_TIMEOUT_S = 30.0


@dataclass
class TwoProcessRun:
    send: SendResult | None = None
    worker_ids: list[str] = field(default_factory=list)
    owner: str | None = None
    sender_poll_s: float = 0.0
    unclean_stops: list[str] = field(default_factory=list)


async def find_owner(apis: list[Api], timeout: float = OWNER_TIMEOUT_S) -> int:
    """The index of the one process that runs the session (polled, bounded in time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    counts: list[int] = []
    while loop.time() < deadline:
        counts = [await api.sessions_running_here() for api in apis]
        running = [i for i, count in enumerate(counts) if count > 0]
        if len(running) == 1 and counts[running[0]] == 1:
            return running[0]
        await asyncio.sleep(0.05)
    raise ApiError(f"no single owner of the session after {timeout:.0f} s: {counts}")


async def measure_two_processes(
    backend: Backend, plan: Plan, workdir: Path, say: Callable[[str], None]
) -> TwoProcessRun:
    run = TwoProcessRun(sender_poll_s=plan.two_process_poll_s)
    database_url = await backend.fresh_database_url(workdir / "two-a" / "data")
    servers = [
        WagateServer(
            database_url=database_url,
            data_dir=workdir / f"two-{name}" / "data",
            log_path=workdir / f"two-{name}.log",
            worker_id=f"bench-{name}",
            extra_env={"WAGATE_SENDER_POLL_S": str(plan.two_process_poll_s)},
        )
        for name in ("a", "b")
    ]
    run.worker_ids = [server.env["WAGATE_WORKER_ID"] for server in servers]
    try:
        async with AsyncExitStack() as stack:
            for server in servers:  # one after the other: the first migrates the new database
                await stack.enter_async_context(server)
            apis = [await stack.enter_async_context(Api(s.url, s.api_key)) for s in servers]
            say(f"  two processes on one database: {servers[0].url}, {servers[1].url}")
            session_id = await apis[0].create_session("bench-two")
            owner = await find_owner(apis)
            run.owner = run.worker_ids[owner]
            await apis[owner].connect(session_id)
            say(
                f"  send, two processes (lease held by {run.owner}, "
                f"WAGATE_SENDER_POLL_S={plan.two_process_poll_s}): {plan.messages} messages, "
                f"{plan.concurrency} in flight spread over both ..."
            )
            run.send = await measure_send(apis, session_id, plan, servers, counter=apis[owner])
    finally:
        for server in servers:
            if server.process is not None and not server.stopped_cleanly:
                run.unclean_stops.append(
                    f"{server.env['WAGATE_WORKER_ID']} exit code {server.exit_code}; "
                    f"its log ends:\n{server.log_tail()}"
                )
    return run
