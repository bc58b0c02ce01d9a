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

from wagate.store import AsyncSession, Database
from wagate.store.group_commit import GroupCommitter
from wagate.store.repositories import deliveries, events

log = structlog.get_logger("wagate.events")

MAX_BATCH = 1000
OPEN = ("pending", "failed")


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
    """The result of one attempt: every field of ``deliveries.OUTCOME_FIELDS``."""

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
    await deliveries.record_outcomes(tx, [(o.delivery_id, o.values) for o in outcomes])


async def _apply_fan_out(tx: AsyncSession, op: FanOut) -> bool:
    return await deliveries.fan_out(
        tx,
        webhook_id=op.webhook_id,
        owner=op.owner,
        old_cursor=op.old_cursor,
        new_cursor=op.new_cursor,
        rows=op.rows,
    )


async def _apply_change(tx: AsyncSession, op: EndpointChange, now: datetime) -> bool:
    changed = await deliveries.change_endpoint(
        tx, op.webhook_id, op.values, only_if_enabled=op.only_if_enabled
    )
    if changed and op.event is not None:
        tenant_id, session_id, kind, data = op.event
        await events.append_event(
            tx, tenant_id=tenant_id, session_id=session_id, type=kind, data=data, now=now
        )
    return changed
