"""The outage drill: the receiver fails, the server restarts, the receiver comes back.

Issue 4's acceptance test. Short retry schedule, injected clock, real
receiver on loopback, real server stopped and started again on the same
database and data directory. Every event of the log reaches the receiver
with a valid Standard Webhooks signature; none is lost.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import select

from tests.api.helpers import connected_session, inbound, wait_status
from tests.events.support import (
    Received,
    Receiver,
    advance_until,
    create_webhook,
    deliveries,
    event_settings,
    settle,
    verify,
)
from tests.support.server import RunningServer, running_server
from wagate.domain import FakeClock
from wagate.store.models import Event, Webhook

SCHEDULE = [0, 2, 4, 8, 16, 32, 32, 32]  # the production shape, minutes and hours made seconds


async def _log_after(server: RunningServer, cursor: int, tenant_id: str) -> list[str]:
    async with server.services.db.read() as tx:
        rows = await tx.scalars(
            select(Event.id)
            .where(Event.seq > cursor, Event.tenant_id == tenant_id)
            .order_by(Event.seq)
        )
        return list(rows)


async def test_outage_drill(db_url: str, tmp_path: Path, clock: FakeClock) -> None:
    settings = event_settings(db_url, tmp_path / "data", webhook_retry_schedule_s=SCHEDULE)
    state = {"down": True}

    def answer(_: Received) -> tuple[int, dict[str, str], bytes]:
        return (500, {}, b"maintenance") if state["down"] else (204, {}, b"")

    receiver = Receiver(answer=answer)
    await receiver.start()
    port = int(receiver.url.split(":")[2].split("/")[0])
    try:
        # ---- first life: events pile up while the receiver answers 500
        async with running_server(settings, clock) as first, first.client() as admin:
            session = await connected_session(first, admin, "drill")
            hook = await create_webhook(admin, receiver.url)  # every event type
            async with first.services.db.read() as tx:
                row = await tx.get(Webhook, hook["id"])
                assert row is not None
                start, tenant_id = row.cursor_seq, row.tenant_id
            for n in range(15):
                await inbound(admin, session["id"], **{"from": "5511988887777", "text": f"m{n}"})

            async def oldest_failed_three_times() -> bool:
                # the oldest event's own attempts: events committed together are tried
                # side by side, so three 500s in all may be one attempt of each
                rows = await deliveries(admin, hook["id"], limit=500)
                return bool(rows) and rows[-1]["attempts"] >= 3

            await advance_until(
                first, oldest_failed_three_times, step=1.0, what="three failures of the oldest"
            )
            assert await _failed_attempts(receiver, 3)
            assert receiver.accepted() == []
            await first.advance(3)

        # ---- between lives the receiver is gone too (connection refused)
        await receiver.stop()

        # ---- second life, same database and data directory
        async with running_server(settings, clock) as second, second.client() as admin:
            await wait_status(admin, session["id"], "connected")  # restored in the background
            for n in range(15, 20):
                await inbound(admin, session["id"], **{"from": "5511988887777", "text": f"m{n}"})

            async def refused() -> bool:
                items = await deliveries(admin, hook["id"], status="failed")
                return any((d["last_error"] or "").startswith("connection_failed") for d in items)

            await advance_until(second, refused, step=2.0, what="a refused connection")

            await receiver.start(port)  # the receiver is back, and healthy
            state["down"] = False
            for n in range(20, 25):
                await inbound(admin, session["id"], **{"from": "5511988887777", "text": f"m{n}"})

            async def all_delivered() -> list[str] | None:
                expected = await _log_after(second, start, tenant_id)
                got = {r.id for r in receiver.accepted()}
                return expected if set(expected) <= got else None

            expected = await advance_until(
                second, all_delivered, step=2.0, limit=300.0, what="every event delivered"
            )

            async def all_recorded() -> bool:
                rows = await deliveries(admin, hook["id"], limit=500)
                return Counter(d["status"] for d in rows) == {"delivered": len(expected)}

            await settle(all_recorded)
            oldest = (await deliveries(admin, hook["id"], limit=500))[-1]
            assert oldest["attempts"] >= 5  # 3 answered 500, 1+ refused, then delivered
    finally:
        await receiver.stop()

    # every event arrived, signed, exactly once with success (at-least-once allows more;
    # a clean restart needs none), and the message events carry all 25 texts
    accepted = receiver.accepted()
    assert Counter(r.id for r in accepted) == Counter(expected)
    texts = []
    for got in receiver.received:
        payload = verify(hook["secret"], got)
        if got in accepted and payload["type"] == "message.received":
            texts.append(payload["data"]["text"])
    assert sorted(texts) == sorted(f"m{n}" for n in range(25))
    assert len(expected) >= 25


async def _failed_attempts(receiver: Receiver, n: int) -> bool:
    return sum(1 for r in receiver.received if r.status == 500) >= n
