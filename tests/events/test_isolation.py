"""No head-of-line blocking between endpoints, and a per-endpoint in-flight cap."""

from __future__ import annotations

import asyncio

import httpx

from tests.events.support import Receiver, create_webhook, emit, settle
from tests.support.server import RunningServer


async def test_a_stuck_endpoint_never_delays_another(
    server: RunningServer,
    admin: httpx.AsyncClient,
    receiver: Receiver,
    other_receiver: Receiver,
) -> None:
    stuck, healthy = receiver, other_receiver
    stuck.gate.clear()  # it accepts connections and never answers (until released)
    await create_webhook(admin, stuck.url)
    await create_webhook(admin, healthy.url)
    ids = await emit(server, 60)

    async def healthy_has_all() -> bool:
        return {r.id for r in healthy.accepted()} == set(ids)

    await settle(healthy_has_all)

    async def eight_waiting() -> bool:
        return stuck.in_flight == 8

    await settle(eight_waiting)
    await asyncio.sleep(0.2)
    assert stuck.in_flight == 8  # WAGATE_WEBHOOK_MAX_IN_FLIGHT, no more
    assert len(stuck.received) == 8

    stuck.gate.set()

    async def stuck_has_all() -> bool:
        return {r.id for r in stuck.accepted()} == set(ids)

    await settle(stuck_has_all)
    assert stuck.max_in_flight == 8
    assert len(stuck.received) == 60


async def test_a_webhooks_own_cap(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.gate.clear()
    await create_webhook(admin, receiver.url, max_in_flight=3)
    await emit(server, 10)

    async def three_waiting() -> bool:
        return receiver.in_flight == 3

    await settle(three_waiting)
    receiver.gate.set()

    async def all_in() -> bool:
        return len(receiver.accepted()) == 10

    await settle(all_in)
    assert receiver.max_in_flight == 3
