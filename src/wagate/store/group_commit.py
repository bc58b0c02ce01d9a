"""Group commit: write operations queued by many tasks, applied a batch per transaction.

A single stream of commits is capped by the disk's commit rate (DESIGN.md);
hot paths (the senders' status changes, webhook delivery outcomes) queue
their writes here instead, and one task applies whatever has queued up in
one transaction, then resolves each submitter's future.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Any, Generic, Protocol, TypeVar


class Submitted(Protocol):
    @property
    def done(self) -> asyncio.Future[Any]: ...


OpT = TypeVar("OpT", bound=Submitted)


class GroupCommitter(ABC, Generic[OpT]):
    """The queue and the batching loop; subclasses say how one batch is applied."""

    max_batch = 500

    def __init__(self) -> None:
        self._queue: asyncio.Queue[OpT] = asyncio.Queue()
        self.batches = 0

    def submit(self, op: OpT) -> asyncio.Future[Any]:
        self._queue.put_nowait(op)
        return op.done

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self.apply(batch)

    async def drain(self) -> None:
        """Apply everything queued so far (at shutdown, after ``run`` stopped)."""
        batch: list[OpT] = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if batch:
            await self.apply(batch)

    @abstractmethod
    async def apply(self, batch: list[OpT]) -> None:
        """Apply ``batch`` in one transaction and resolve each op's future."""
