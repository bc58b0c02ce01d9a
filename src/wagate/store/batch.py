"""Group commit for the request paths: many callers' writes, one transaction, one hop.

A durable commit costs the disk one flush, and on SQLite every write waits
for the single writer connection (DESIGN.md). A request that wrote in a
transaction of its own would therefore run at the disk's commit rate, however
little it wrote. Instead, each hot path hands its validated writes to the
:class:`BatchWriter` as an *op* of some :class:`BatchKind` and awaits the
outcome; one task takes whatever has queued up (bounded), applies it in one
transaction and answers every caller after the commit. Under load a batch
holds hundreds of ops; idle, it holds one and costs what a plain transaction
costs.

Semantics the callers rely on:

* **Committed before answered.** A caller's future resolves only after the
  transaction that holds its writes committed (or with the error that kept
  them out).
* **In submission order.** Ops apply in the order they were submitted, across
  batches too; consecutive ops of one kind are handed to their kind together,
  so it can apply them set-based (one ``executemany``, one ``SELECT ... IN``).
* **A refusal is the op's own.** A kind answers each op with a result or with
  an exception *instance* (a duplicate, an opt-out): that op wrote nothing and
  its caller gets the exception; the others commit.
* **A failure is isolated.** If applying a batch raises (a constraint, a lost
  connection), the transaction is rolled back and every op is applied again in
  a transaction of its own, so one bad op fails alone.
* **A cancelled caller does not cancel its write.** The op stays queued and
  commits; only the answer is lost, as with a client that hung up.

Kinds are **synchronous** code on a Core :class:`~sqlalchemy.engine.Connection`,
and the whole batch runs as one call: on SQLite in the database's writer
thread (one hop from the event loop per batch, not one per statement: under
load each hop waits for a turn of the busy loop), on PostgreSQL through
``AsyncConnection.run_sync`` (each statement is a round trip to the server
anyway). So a kind must not touch the event loop in :meth:`BatchKind.apply`;
what must happen on the loop after the commit goes in :meth:`BatchKind.committed`.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.engine import Connection

log = structlog.get_logger("wagate.store")

OpT = TypeVar("OpT")


class BatchKind(ABC, Generic[OpT]):
    """How consecutive ops of one kind are applied inside a batch's transaction."""

    name: str = "write"

    @abstractmethod
    def apply(self, conn: Connection, ops: list[OpT]) -> list[Any]:
        """Apply ``ops`` in the batch's transaction; one outcome per op, in order.

        An outcome that is an :class:`Exception` instance is raised to that op's
        caller, and nothing of that op may have been written. Raising fails the
        whole batch (which is then retried op by op).
        """

    def committed(self, ops: list[OpT], outcomes: list[Any]) -> None:
        """Called once after the commit with this kind's ops and outcomes (wake listeners)."""


@dataclass(slots=True)
class _Pending:
    kind: BatchKind[Any]
    op: Any
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class BatchStats:
    """Counters for ``/metrics`` and the benchmarks."""

    batches: int = 0
    ops: int = 0
    retried_alone: int = 0
    ops_by_kind: dict[str, int] = field(default_factory=dict)


class BatchWriter:
    """The queue, the applying task, and the fallback to one op per transaction."""

    def __init__(
        self,
        run_transaction: Callable[[Callable[[Connection], Any]], Awaitable[Any]],
        *,
        max_batch: int = 500,
    ) -> None:
        self._run_transaction = run_transaction  # runs fn(conn) in one committed transaction
        self.max_batch = max_batch
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, kind: BatchKind[OpT], op: OpT) -> Any:
        """Queue ``op`` and wait until it committed; its result, or its refusal raised."""
        future = self.enqueue(kind, op)
        return await asyncio.shield(future)

    def enqueue(self, kind: BatchKind[OpT], op: OpT) -> asyncio.Future[Any]:
        """Queue ``op`` now (order is kept) and return the future of its outcome."""
        if self._closed:
            raise RuntimeError("the database is closed")
        pending = _Pending(kind, op)
        self._queue.put_nowait(pending)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="db-batches")
        return pending.future

    async def _run(self) -> None:
        while not self._queue.empty():
            batch = [self._queue.get_nowait()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._apply(batch)
            await asyncio.sleep(0)  # let the callers we just answered queue their next op

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (or refused)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Apply what is queued, then refuse new ops (the database is being disposed)."""
        self._closed = True
        await self.flush()

    async def _apply(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self._transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0].future, exc)
                return
            log.warning("write batch failed; applying its ops one by one", error=repr(exc))
            self.stats.retried_alone += len(batch)
            for pending in batch:
                await self._apply([pending])
            return
        self.stats.batches += 1
        self.stats.ops += len(batch)
        for pending, outcome in zip(batch, outcomes, strict=True):
            name = pending.kind.name
            self.stats.ops_by_kind[name] = self.stats.ops_by_kind.get(name, 0) + 1
            _settle(pending.future, outcome)
        for kind, ops, results in _runs(batch, outcomes):
            try:
                kind.committed(ops, results)
            except Exception:
                log.exception("after-commit hook failed", kind=kind.name)

    async def _transaction(self, batch: list[_Pending]) -> list[Any]:
        runs = _runs(batch, None)

        def apply_all(conn: Connection) -> list[Any]:
            outcomes: list[Any] = []
            for kind, ops, _ in runs:
                results = kind.apply(conn, ops)
                if len(results) != len(ops):
                    raise RuntimeError(f"{kind.name}: {len(results)} outcomes for {len(ops)} ops")
                outcomes.extend(results)
            return outcomes

        result: list[Any] = await self._run_transaction(apply_all)
        return result


def _runs(
    batch: list[_Pending], outcomes: list[Any] | None
) -> list[tuple[BatchKind[Any], list[Any], list[Any]]]:
    """The batch cut into runs of consecutive ops of one kind (with their outcomes, if given)."""
    runs: list[tuple[BatchKind[Any], list[Any], list[Any]]] = []
    for index, pending in enumerate(batch):
        if not runs or runs[-1][0] is not pending.kind:
            runs.append((pending.kind, [], []))
        runs[-1][1].append(pending.op)
        if outcomes is not None:
            runs[-1][2].append(outcomes[index])
    return runs


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():  # its caller was cancelled: the write stands, the answer is dropped
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
        future.exception()  # retrieved: a caller that was cancelled meanwhile stays quiet
    else:
        future.set_result(outcome)
