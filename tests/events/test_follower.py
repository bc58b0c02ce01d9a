"""A log follower's cursor: made at the log's end when it begins, so that what is
appended between its start and its first claim is followed too."""

from __future__ import annotations

import asyncio

from tests.support.server import eventually
from wagate.domain import FakeClock
from wagate.events import EventBus, LogHorizon
from wagate.events.follower import FollowerSpec, LogFollower
from wagate.store import Database
from wagate.store.models import Event, SinkCursor
from wagate.store.repositories import events, tenants


async def _append(db: Database, clock: FakeClock, *numbers: int) -> None:
    async with db.transaction() as tx:
        tenant = await tenants.ensure_tenant(tx, tenants.DEFAULT_TENANT, clock.now())
        for n in numbers:
            await events.append_event(
                tx,
                tenant_id=tenant.id,
                session_id=None,
                type="message.received",
                data={"n": n},
                now=clock.now(),
            )


def _follower(db: Database, clock: FakeClock, bus: EventBus, got: list[int]) -> LogFollower:
    async def handle(row: Event) -> None:
        got.append(int(row.data["n"]))

    return LogFollower(
        FollowerSpec(name="test-sink", source="test", types=["message.received"]),
        handle,
        db=db,
        clock=clock,
        bus=bus,
        horizon=LogHorizon(db),
        worker_id="worker-1",
        lease_ttl_s=30.0,
        poll_s=0.05,
    )


async def test_a_begun_follower_gets_what_was_appended_before_its_first_claim(
    db: Database, clock: FakeClock
) -> None:
    await db.migrate()
    await _append(db, clock, 0)  # before: not its business
    bus, got = EventBus(), list[int]()
    follower = _follower(db, clock, bus, got)
    await follower.begin()
    await follower.begin()  # again (another worker's start): the cursor stays
    await _append(db, clock, 1, 2)  # between its start and its first claim
    task = asyncio.create_task(follower.run())
    try:
        await _append(db, clock, 3)
        bus.notify()

        async def all_in() -> bool:
            assert got == [1, 2, 3], got
            return True

        await eventually(all_in)
    finally:
        follower.stop()
        await task


async def test_without_begin_a_follower_starts_at_its_first_claim(
    db: Database, clock: FakeClock
) -> None:
    """What ``begin`` is for: the same follower, not begun, skips what came before."""
    await db.migrate()
    await _append(db, clock, 1, 2)
    bus, got = EventBus(), list[int]()
    follower = _follower(db, clock, bus, got)
    task = asyncio.create_task(follower.run())
    try:

        async def claimed() -> bool:
            async with db.read() as tx:
                return await tx.get(SinkCursor, "test-sink") is not None

        await eventually(claimed)
        await _append(db, clock, 3)
        bus.notify()

        async def the_later_one() -> bool:
            assert got, got
            return True

        await eventually(the_later_one)
        assert got == [3]
    finally:
        follower.stop()
        await task
