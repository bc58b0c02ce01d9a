"""Several workers on one database: each endpoint is delivered to by one worker at a time."""

from __future__ import annotations

import base64
import os
from collections import Counter
from pathlib import Path

from tests.events.support import (
    Receiver,
    advance_until,
    create_webhook,
    emit,
    event_settings,
    settle,
    verify,
)
from tests.support.server import running_server
from wagate.domain import FakeClock


async def test_two_workers_deliver_each_event_once_and_hand_over(
    db_url: str, tmp_path: Path, clock: FakeClock, receiver: Receiver
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()  # shared: either worker can sign
    one = event_settings(db_url, tmp_path / "one", worker_id="one", webhook_secret_key=key)
    two = event_settings(db_url, tmp_path / "two", worker_id="two", webhook_secret_key=key)
    async with running_server(two, clock) as second:
        async with running_server(one, clock) as first, first.client() as admin:
            hook = await create_webhook(admin, receiver.url)
            batch = await emit(first, 20) + await emit(second, 20)

            async def all_in() -> bool:
                return {r.id for r in receiver.accepted()} >= set(batch)

            await advance_until(first, all_in, step=1.0, what="both batches delivered")
            assert _holds(first, hook["id"]) != _holds(second, hook["id"])  # one of them

        # the first worker stopped and released its leases; the second takes over
        later = await emit(second, 20)

        async def later_in() -> bool:
            return {r.id for r in receiver.accepted()} >= set(later)

        await advance_until(second, later_in, step=1.0, what="delivered after hand-over")
        assert _holds(second, hook["id"])

    counts = Counter(r.id for r in receiver.accepted())
    assert set(counts) == set(batch + later)
    assert set(counts.values()) == {1}  # no event delivered twice
    for got in receiver.received:
        verify(hook["secret"], got)


def _holds(server, webhook_id: str) -> bool:  # type: ignore[no-untyped-def]
    return webhook_id in server.services.webhooks.workers


async def test_a_process_keeps_its_own_endpoints_after_a_restart(
    db_url: str, tmp_path: Path, clock: FakeClock, receiver: Receiver
) -> None:
    settings = event_settings(db_url, tmp_path / "data")
    async with running_server(settings, clock) as first, first.client() as admin:
        hook = await create_webhook(admin, receiver.url)
        await emit(first, 3)
        await settle(lambda: _count(receiver, 3))
    async with running_server(settings, clock) as again:
        await emit(again, 3)
        await settle(lambda: _count(receiver, 6))
        assert _holds(again, hook["id"])


async def _count(receiver: Receiver, n: int) -> bool:
    return len(receiver.accepted()) >= n
