"""The fleet's chaos test: three ``wagate serve`` processes on PostgreSQL under steady
sends; one is killed (SIGKILL), another frozen past its lease TTL (SIGSTOP) and resumed,
the killed one restarted.

What must hold, read from the simulated network's own files (outside the gateway):

* at no moment does a session have two live connections acting on the network: the
  network saw no connection act after a newer one opened, and no open with a fencing
  token older than an earlier open's (``wagate.transports.simulator.links``);
* every message acknowledged by any worker reaches the network exactly once;
* every session of the killed and of the frozen worker runs again, on another worker,
  within the lease TTL plus one renewal (a third of the TTL), with a little room for
  the work of starting it (``START_SLACK_S``).

The benchmark (``python -m benchmarks --only fleet``) runs the same fleet large.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer
from tests.support.process_fleet import ProcessFleet, Traffic

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TTL_S = 3.0
RENEWAL_S = TTL_S / 3
START_SLACK_S = 2.0  # claiming and connecting a dead worker's sessions on a loaded 2-core box
SESSIONS = 30
RATE = 15.0  # messages a second, through whichever workers are up


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database(template="wagate_template")
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture
async def fleet(pg_url: str, tmp_path: Path) -> AsyncIterator[ProcessFleet]:
    async with ProcessFleet(
        pg_url, tmp_path, workers=3, lease_ttl_s=TTL_S, WAGATE_MOVES_PER_MINUTE="120"
    ) as running:
        yield running


async def test_kill_freeze_and_restart_workers_under_steady_sends(fleet: ProcessFleet) -> None:
    sessions = await fleet.linked_sessions(SESSIONS)
    traffic = Traffic(fleet, sessions, rate=RATE)
    traffic.start()
    await asyncio.sleep(2)
    _w1, w2, w3 = fleet.workers

    killed_at = fleet.kill(w3)
    kill_lag = await fleet.taken_over(sessions, w3, killed_at)

    frozen_at = fleet.freeze(w2)
    freeze_lag = await fleet.taken_over(sessions, w2, frozen_at)
    await asyncio.sleep(max(0.0, frozen_at + TTL_S + 1 - time.time()))  # frozen past its TTL
    fleet.thaw(w2)  # it wakes with connections it must no longer use
    await fleet.restart(w3)
    await asyncio.sleep(3)  # steady sends through the whole fleet again
    await traffic.stop()

    await fleet.drained(timeout=60)
    await fleet.all_connected(sessions, timeout=30)
    fleet.stop_all()

    print(
        f"accepted {len(traffic.accepted)} (retried {traffic.retried}); sessions of the killed "
        f"worker ran again after {kill_lag:.2f} s, of the frozen one after {freeze_lag:.2f} s "
        f"(bound {TTL_S + RENEWAL_S + START_SLACK_S:.2f} s)"
    )
    assert fleet.conflicts(sessions) == []  # never two live connections acting
    arrivals = fleet.arrivals(sessions)
    assert [m for m, n in arrivals.items() if n > 1] == []  # nothing doubled
    assert set(traffic.accepted.values()) <= set(arrivals)  # nothing acknowledged was lost
    assert kill_lag <= TTL_S + RENEWAL_S + START_SLACK_S
    assert freeze_lag <= TTL_S + RENEWAL_S + START_SLACK_S
