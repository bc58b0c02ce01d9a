"""The log horizon: readers never move past an event that is still committing."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import insert

from wagate.domain import FakeClock, new_id
from wagate.events import LogHorizon
from wagate.store import Database
from wagate.store.models import Event
from wagate.store.repositories import tenants


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _tenant(db: Database, clock: FakeClock) -> str:
    async with db.transaction() as tx:
        return (await tenants.ensure_tenant(tx, "default", clock.now())).id


async def _put(db: Database, tenant_id: str, clock: FakeClock, *seqs: int) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            insert(Event),
            [
                {
                    "seq": seq,
                    "id": new_id("evt"),
                    "tenant_id": tenant_id,
                    "session_id": None,
                    "type": "test",
                    "data": {},
                    "created_at": clock.now(),
                }
                for seq in seqs
            ],
        )


async def test_a_gap_holds_the_horizon_until_filled_or_expired(
    db: Database, clock: FakeClock
) -> None:
    tenant = await _tenant(db, clock)
    ticker = Ticker()
    horizon = LogHorizon(db, grace_s=5.0, monotonic=ticker)
    assert await horizon.refresh() == 0
    await _put(db, tenant, clock, 1, 2)
    assert await horizon.refresh() == 2

    await _put(db, tenant, clock, 4, 5)  # 3 is missing: maybe still committing
    assert await horizon.refresh() == 2
    assert horizon.pending_gap_s() == 5.0
    await _put(db, tenant, clock, 3)  # it was: the horizon moves past all of them
    assert await horizon.refresh() == 5
    assert horizon.pending_gap_s() is None

    await _put(db, tenant, clock, 7, 9)  # 6 and 8 never come (rolled back)
    assert await horizon.refresh() == 5
    ticker.now += 3
    assert await horizon.refresh() == 5
    assert horizon.pending_gap_s() == 2.0
    ticker.now += 2  # 6 has been missing for the grace period; 8 too (seen at the same time)
    assert await horizon.refresh() == 9


async def test_restart_looks_back_for_gaps_near_the_end(db: Database, clock: FakeClock) -> None:
    tenant = await _tenant(db, clock)
    await _put(db, tenant, clock, *range(1, 1501), 1503)
    ticker = Ticker()
    horizon = LogHorizon(db, grace_s=5.0, monotonic=ticker)
    assert await horizon.refresh() == 1500
    ticker.now += 5
    assert await horizon.refresh() == 1503


async def test_a_transaction_committing_late_is_waited_for(db: Database, clock: FakeClock) -> None:
    """The real case on PostgreSQL: seq 1 is taken first and committed last."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer: seqs are committed in order")
    tenant = await _tenant(db, clock)
    horizon = LogHorizon(db, grace_s=30.0)
    slow_started = asyncio.Event()
    release = asyncio.Event()

    async def slow() -> None:
        async with db.transaction() as tx:
            await tx.execute(
                insert(Event).values(
                    id=new_id("evt"),
                    tenant_id=tenant,
                    session_id=None,
                    type="slow",
                    data={},
                    created_at=clock.now(),
                )
            )
            slow_started.set()
            await release.wait()

    task = asyncio.create_task(slow())
    await slow_started.wait()
    async with db.transaction() as tx:
        await tx.execute(
            insert(Event).values(
                id=new_id("evt"),
                tenant_id=tenant,
                session_id=None,
                type="fast",
                data={},
                created_at=clock.now(),
            )
        )
    assert await horizon.refresh() == 0  # 2 is visible, 1 is not yet: stay before 1
    release.set()
    await task
    assert await horizon.refresh() == 2
