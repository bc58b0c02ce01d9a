"""Group commit for webhook delivery: every write of the endpoint workers goes through here.

Three kinds of operation: a **fan-out** (new delivery rows for one endpoint
and the move of its cursor, only while this worker holds the endpoint's
lease), an **outcome** (the result of one attempt) and an **endpoint
change** (failing since, disabled; optionally with its ``webhook.disabled``
event). One task applies whatever has queued up in one transaction, in
submission order, and resolves each operation's future after the commit, so
a burst of deliveries to many endpoints costs a few commits, not one each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Table, bindparam, insert, update

from wagate.domain import new_id
from wagate.store import AsyncSession, Database
from wagate.store.group_commit import GroupCommitter
from wagate.store.models import Event, Webhook, WebhookDelivery

log = structlog.get_logger("wagate.events")

MAX_BATCH = 1000
OPEN = ("pending", "failed")
OUTCOME_FIELDS = (
    "status",
    "attempts",
    "next_attempt_at",
    "last_attempt_at",
    "last_status",
    "last_error",
    "last_response",
    "last_duration_ms",
    "delivered_at",
    "updated_at",
)


def _future() -> asyncio.Future[bool]:
    return asyncio.get_running_loop().create_future()


@dataclass(slots=True)
class FanOut:
    """New delivery rows for one endpoint; applied only if the cursor and lease still match."""

    webhook_id: str
    owner: str
    old_cursor: int
    new_cursor: int
    rows: list[dict[str, Any]]
    done: asyncio.Future[bool] = field(default_factory=_future)


@dataclass(slots=True)
class Outcome:
    """The result of one attempt: every field of :data:`OUTCOME_FIELDS`."""

    delivery_id: str
    values: dict[str, Any]
    done: asyncio.Future[bool] = field(default_factory=_future)


@dataclass(slots=True)
class EndpointChange:
    """Columns of one webhook row, and optionally an event announcing the change."""

    webhook_id: str
    values: dict[str, Any]
    only_if_enabled: bool = False
    event: tuple[str, str | None, str, dict[str, Any]] | None = None  # tenant, session, type, data
    done: asyncio.Future[bool] = field(default_factory=_future)


Op = FanOut | Outcome | EndpointChange


class DeliveryWriter(GroupCommitter[Op]):
    max_batch = MAX_BATCH

    def __init__(
        self, db: Database, now: Callable[[], datetime], on_events: Callable[[], None]
    ) -> None:
        self.db = db
        self.now = now
        self.on_events = on_events
        super().__init__()

    async def apply(self, batch: list[Op]) -> None:
        announced = False
        try:
            async with self.db.transaction() as tx:
                results: list[bool] = []
                outcomes: list[Outcome] = []
                for op in batch:
                    if isinstance(op, Outcome):
                        outcomes.append(op)
                        results.append(True)
                        continue
                    # keep submission order: outcomes before a fan-out or change go first
                    await _apply_outcomes(tx, outcomes)
                    outcomes = []
                    if isinstance(op, FanOut):
                        results.append(await _apply_fan_out(tx, op))
                    else:
                        ok = await _apply_change(tx, op, self.now())
                        announced |= ok and op.event is not None
                        results.append(ok)
                await _apply_outcomes(tx, outcomes)
        except Exception as exc:
            log.error("webhook delivery batch failed", error=repr(exc), ops=len(batch))
            for op in batch:
                if not op.done.done():
                    op.done.set_exception(exc)
                    op.done.exception()  # retrieved: callers that never await it stay quiet
            return
        self.batches += 1
        for op, ok in zip(batch, results, strict=True):
            if not op.done.done():
                op.done.set_result(ok)
        if announced:
            self.on_events()


async def _apply_outcomes(tx: AsyncSession, outcomes: list[Outcome]) -> None:
    if not outcomes:
        return
    table: Table = WebhookDelivery.__table__  # type: ignore[assignment]  # Core: one executemany
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in OUTCOME_FIELDS})
    )
    params = [
        {"b_id": o.delivery_id, **{f"b_{k}": o.values[k] for k in OUTCOME_FIELDS}} for o in outcomes
    ]
    await tx.execute(statement, params)


async def _apply_fan_out(tx: AsyncSession, op: FanOut) -> bool:
    moved = await tx.execute(
        update(Webhook)
        .where(
            Webhook.id == op.webhook_id,
            Webhook.cursor_seq == op.old_cursor,
            Webhook.lease_owner == op.owner,
            Webhook.enabled.is_(True),
        )
        .values(cursor_seq=op.new_cursor)
        .execution_options(synchronize_session=False)
    )
    if not getattr(moved, "rowcount", 0):
        return False
    if op.rows:
        await tx.execute(insert(WebhookDelivery), op.rows)
    return True


async def _apply_change(tx: AsyncSession, op: EndpointChange, now: datetime) -> bool:
    statement = update(Webhook).where(Webhook.id == op.webhook_id)
    if op.only_if_enabled:
        statement = statement.where(Webhook.enabled.is_(True))
    changed = await tx.execute(
        statement.values(**op.values).execution_options(synchronize_session=False)
    )
    if not getattr(changed, "rowcount", 0):
        return False
    if op.event is not None:
        tenant_id, session_id, kind, data = op.event
        await tx.execute(
            insert(Event).values(
                id=new_id("evt"),
                tenant_id=tenant_id,
                session_id=session_id,
                type=kind,
                data=data,
                created_at=now,
            )
        )
    return True
