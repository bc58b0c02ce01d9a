"""Webhook and delivery repositories on both databases: leases, fan-out guard, purge."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from wagate.domain import FakeClock, new_id
from wagate.events.writer import DeliveryWriter, FanOut
from wagate.store import Database
from wagate.store.models import Webhook, WebhookDelivery
from wagate.store.repositories import deliveries, events, tenants, webhooks


async def _hook(db: Database, clock: FakeClock) -> Webhook:
    async with db.transaction() as tx:
        tenant = await tenants.ensure_tenant(tx, "default", clock.now())
        return await webhooks.create_webhook(
            tx,
            tenant_id=tenant.id,
            url="http://127.0.0.1:9/x",
            events=["*"],
            secret="v1:sealed",
            session_id=None,
            now=clock.now(),
        )


async def _owner(db: Database, webhook_id: str) -> str | None:
    async with db.read() as tx:
        hook = await tx.get(Webhook, webhook_id)
        assert hook is not None
        return hook.lease_owner


async def test_leases_are_taken_once_renewed_and_released(db: Database, clock: FakeClock) -> None:
    hook = await _hook(db, clock)
    for owner in ("a", "b"):
        async with db.transaction() as tx:
            await webhooks.claim(tx, owner=owner, now=clock.now(), ttl_s=30)
    assert await _owner(db, hook.id) == "a"
    async with db.read() as tx:
        assert [h.id for h in await webhooks.held_by(tx, "a")] == [hook.id]
        assert await webhooks.held_by(tx, "b") == []

    await clock.advance(31)  # a's lease lapsed without renewal: b may take it
    async with db.transaction() as tx:
        await webhooks.claim(tx, owner="b", now=clock.now(), ttl_s=30)
    assert await _owner(db, hook.id) == "b"
    async with db.transaction() as tx:
        await webhooks.release(tx, "b")
    assert await _owner(db, hook.id) is None


async def test_fan_out_needs_the_lease_and_the_expected_cursor(
    db: Database, clock: FakeClock
) -> None:
    hook = await _hook(db, clock)
    async with db.transaction() as tx:
        await webhooks.claim(tx, owner="a", now=clock.now(), ttl_s=30)
        event = await events.append_event(
            tx, tenant_id=hook.tenant_id, session_id=None, type="x", data={}, now=clock.now()
        )
    writer = DeliveryWriter(db, clock.now, lambda: None)

    def row() -> dict[str, object]:
        return {
            "id": new_id("dlv"),
            "webhook_id": hook.id,
            "event_seq": event.seq,
            "event_id": event.id,
            "event_type": event.type,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": clock.now(),
            "created_at": clock.now(),
            "updated_at": clock.now(),
        }

    ops = [
        FanOut(hook.id, "b", hook.cursor_seq, event.seq, [row()]),  # not the lease holder
        FanOut(hook.id, "a", hook.cursor_seq + 99, event.seq, [row()]),  # stale cursor
        FanOut(hook.id, "a", hook.cursor_seq, event.seq, [row()]),
        FanOut(hook.id, "a", hook.cursor_seq, event.seq, [row()]),  # the same again
    ]
    for op in ops:
        writer.submit(op)
    await writer.drain()
    assert [op.done.result() for op in ops] == [False, False, True, False]
    async with db.read() as tx:
        rows = list(await tx.scalars(select(WebhookDelivery)))
        again = await tx.get(Webhook, hook.id)
    assert len(rows) == 1
    assert again is not None
    assert again.cursor_seq == event.seq


async def test_purge_keeps_recent_and_undelivered_rows(db: Database, clock: FakeClock) -> None:
    hook = await _hook(db, clock)
    now = clock.now()
    async with db.transaction() as tx:
        for n, (status, age) in enumerate(
            [("delivered", 10), ("delivered", 1), ("dead", 10), ("failed", 10)]
        ):
            event = await events.append_event(
                tx, tenant_id=hook.tenant_id, session_id=None, type="x", data={}, now=now
            )
            tx.add(
                WebhookDelivery(
                    id=f"dlv_{n}",
                    webhook_id=hook.id,
                    event_seq=event.seq,
                    event_id=event.id,
                    event_type="x",
                    status=status,
                    attempts=1,
                    delivered_at=now - timedelta(days=age) if status == "delivered" else None,
                    created_at=now,
                    updated_at=now,
                )
            )
    async with db.transaction() as tx:
        purged = await deliveries.purge_delivered(tx, now - timedelta(days=7))
    assert purged == 1
    async with db.read() as tx:
        left = sorted(r.id for r in await tx.scalars(select(WebhookDelivery)))
    assert left == ["dlv_1", "dlv_2", "dlv_3"]
    async with db.transaction() as tx:
        assert await deliveries.replay_dead(tx, hook.id, now) == 1
        await webhooks.delete_webhook(tx, hook.id, None)
    async with db.read() as tx:  # a webhook's deliveries go with it
        assert list(await tx.scalars(select(WebhookDelivery))) == []
