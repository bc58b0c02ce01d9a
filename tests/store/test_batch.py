"""The group-commit writer on SQLite and PostgreSQL: order, refusals, failures, cancellation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Table, func, insert, select
from sqlalchemy.engine import Connection

from wagate.domain import InvalidRequest
from wagate.store import Database
from wagate.store.batch import BatchKind
from wagate.store.models import Tenant

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
TENANTS: Table = Tenant.__table__  # type: ignore[assignment]


class AddTenants(BatchKind[str]):
    """Inserts a tenant per op; an op named ``refuse:…`` is refused without writing."""

    name = "tenants"

    def __init__(self) -> None:
        self.runs: list[list[str]] = []
        self.committed_runs: list[list[Any]] = []

    def apply(self, conn: Connection, ops: list[str]) -> list[Any]:
        self.runs.append(list(ops))
        outcomes: list[Any] = []
        rows = []
        for name in ops:
            if name.startswith("refuse:"):
                outcomes.append(InvalidRequest(f"no {name}", code="refused"))
                continue
            rows.append({"id": f"ten_{name}", "name": name, "created_at": NOW})
            outcomes.append(name.upper())
        if rows:
            conn.execute(insert(TENANTS), rows)
        return outcomes

    def committed(self, ops: list[str], outcomes: list[Any]) -> None:
        self.committed_runs.append(outcomes)


async def _names(db: Database) -> list[str]:
    async with db.read() as tx:
        return sorted(await tx.scalars(select(Tenant.name)))


async def test_waiting_ops_share_one_transaction_in_order(db: Database) -> None:
    kind = AddTenants()
    commits = db.commits
    futures = [db.batches.enqueue(kind, f"t{i:02}") for i in range(40)]
    results = await asyncio.gather(*futures)
    assert results == [f"T{i:02}" for i in range(40)]
    assert kind.runs == [[f"t{i:02}" for i in range(40)]]  # all queued before the first batch
    assert db.commits - commits == 1
    assert db.batches.stats.ops_by_kind["tenants"] == 40
    assert await _names(db) == [f"t{i:02}" for i in range(40)]


async def test_a_refusal_is_the_ops_own(db: Database) -> None:
    kind = AddTenants()
    ok = db.batches.enqueue(kind, "a")
    refused = db.batches.enqueue(kind, "refuse:b")
    also_ok = db.batches.enqueue(kind, "c")
    assert await ok == "A"
    with pytest.raises(InvalidRequest) as caught:
        await refused
    assert caught.value.code == "refused"
    assert await also_ok == "C"
    assert await _names(db) == ["a", "c"]
    assert kind.committed_runs[0][0] == "A"


async def test_a_failing_batch_is_applied_again_op_by_op(db: Database) -> None:
    kind = AddTenants()
    await db.batches.submit(kind, "taken")
    # the second "taken" breaks the unique name: the batch fails, then each op alone
    futures = [db.batches.enqueue(kind, name) for name in ("x", "taken", "y")]
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    assert outcomes[0] == "X"
    assert isinstance(outcomes[1], Exception)
    assert outcomes[2] == "Y"
    assert db.batches.stats.retried_alone == 3
    assert await _names(db) == ["taken", "x", "y"]


async def test_a_cancelled_caller_does_not_cancel_its_write(db: Database) -> None:
    kind = AddTenants()
    caller = asyncio.create_task(db.batches.submit(kind, "kept"))
    await asyncio.sleep(0)  # queued
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await db.batches.flush()
    assert await _names(db) == ["kept"]


async def test_kinds_interleave_in_submission_order(db: Database) -> None:
    first, second = AddTenants(), AddTenants()
    futures = [
        db.batches.enqueue(first, "a1"),
        db.batches.enqueue(first, "a2"),
        db.batches.enqueue(second, "b1"),
        db.batches.enqueue(first, "a3"),
    ]
    assert await asyncio.gather(*futures) == ["A1", "A2", "B1", "A3"]
    assert first.runs == [["a1", "a2"], ["a3"]]
    assert second.runs == [["b1"]]
    async with db.read() as tx:
        count = await tx.scalar(select(func.count()).select_from(Tenant))
    assert count == 4
