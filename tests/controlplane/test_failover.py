"""Two ``wagate serve`` processes on PostgreSQL serve one fake wa-worker control plane;
the one running the instance is killed (SIGKILL) while the control plane keeps queueing
messages. The other takes the instance over (wagate's lease, then the control plane's
lock) and everything queued is sent on WhatsApp exactly once and marked sent.

Read from outside the gateway: the simulated network's ledger (what reached WhatsApp)
and the control plane's own records (locks, marks).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.fake_control_plane import SECRET, FakeControlPlane, running_fake_control_plane
from tests.support.postgres import PostgresServer
from tests.support.process_fleet import ProcessFleet, until
from wagate.transports.simulator.ledger import SentLedger, ledger_path

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TTL_S = 3.0  # wagate's leases
LOCK_TTL_S = 4.0  # the control plane's locks (renewed at every lease pass, a third of TTL_S)
CONTACT = "5511988887777"


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database(template="wagate_template")
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture
async def plane() -> AsyncIterator[FakeControlPlane]:
    async with running_fake_control_plane(instances={"inst-a": 10}, max_active=1) as fake:
        yield fake


@pytest.fixture
async def fleet(
    pg_url: str, tmp_path: Path, plane: FakeControlPlane
) -> AsyncIterator[ProcessFleet]:
    async with ProcessFleet(
        pg_url,
        tmp_path,
        workers=2,
        lease_ttl_s=TTL_S,
        WAGATE_CONTROL_PLANE_URL=plane.url,
        WAGATE_CONTROL_PLANE_SECRET=SECRET,
        WAGATE_CONTROL_PLANE_TRANSPORT="simulator",
        WAGATE_CONTROL_PLANE_LOCK_TTL_S=str(LOCK_TTL_S),
        WAGATE_CONTROL_PLANE_DISCOVERY_S="0.3",
        WAGATE_CONTROL_PLANE_QUEUE_POLL_S="0.2",
        WAGATE_EVENTS_POLL_S="0.2",
    ) as running:
        yield running


async def _instance_session(fleet: ProcessFleet) -> str:
    async def made() -> str | None:
        items = (await fleet.call("GET", "/v1/sessions")).json()["items"]
        found = [s for s in items if s["name"] == "inst-a" and s["status"] == "qr"]
        return str(found[0]["id"]) if found else None

    sid: str = await until(made, timeout=60)
    scanned = await fleet.call("POST", f"/v1/simulator/{sid}/scan")
    assert scanned.status_code == 202, scanned.text
    await fleet.all_connected([sid], timeout=60)
    return sid


async def test_a_killed_worker_hands_its_instance_over_and_nothing_is_lost_or_doubled(
    fleet: ProcessFleet, plane: FakeControlPlane
) -> None:
    sid = await _instance_session(fleet)
    holder = plane.holder("inst-a")
    assert holder in ("w1", "w2")
    first = [plane.enqueue("inst-a", CONTACT, f"message {n}") for n in range(10)]
    await until(lambda: _marked(plane, first), timeout=60)

    more = [plane.enqueue("inst-a", CONTACT, f"message {n}") for n in range(10, 20)]
    [victim] = [w for w in fleet.workers if w.id == holder]
    killed_at = fleet.kill(victim)  # some of these are queued, accepted or being sent
    later = [plane.enqueue("inst-a", CONTACT, f"message {n}") for n in range(20, 30)]

    everything = first + more + later
    await until(lambda: _marked(plane, everything), timeout=90)
    survivor = next(w.id for w in fleet.workers if w.id != holder)
    assert plane.holder("inst-a") == survivor
    took = time.monotonic()
    print(f"all marked sent {took:.1f}; killed at {killed_at:.1f}")
    fleet.stop_all()
    await asyncio.sleep(0.5)

    # on WhatsApp: each queued message exactly once
    ledger = SentLedger(ledger_path(fleet.data_dir / "simulator", sid), keep_open=False)
    texts = Counter(record.text for record in ledger.load().values())
    assert texts == Counter(f"message {n}" for n in range(30))
    # the control plane's marks: every message, always with the one WhatsApp id it went as
    ids: dict[str, set[str]] = {}
    for mark in plane.sent:
        ids.setdefault(mark["id"], set()).add(mark["wa_message_id"])
    assert set(ids) == set(everything)
    assert all(len(found) == 1 for found in ids.values()), ids
    assert not plane.failed


async def _marked(plane: FakeControlPlane, wanted: list[str]) -> bool:
    await asyncio.sleep(0)
    return set(wanted) <= set(plane.sent_ids())
