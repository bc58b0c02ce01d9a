"""This process as a member of the fleet: who it is, and what it reports at each heartbeat."""

from __future__ import annotations

import os
import socket
import time

from wagate import __version__
from wagate.domain import Clock
from wagate.observability import Metrics
from wagate.store.repositories.workers import WorkerReport


class WorkerIdentity:
    """The fields of this worker's row; ``messages_per_s`` is measured between two
    reports, from the sends this process counted (on the real clock: it is a rate of
    work done, not a scheduled time)."""

    def __init__(self, worker_id: str, capacity: int, metrics: Metrics, clock: Clock) -> None:
        self.worker_id = worker_id
        self.capacity = capacity
        self.metrics = metrics
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started_at = clock.now()
        self._last = (time.monotonic(), metrics.sent_total())

    def report(self) -> WorkerReport:
        now, sent = time.monotonic(), self.metrics.sent_total()
        then, before = self._last
        self._last = (now, sent)
        rate = (sent - before) / (now - then) if now > then else 0.0
        return WorkerReport(
            id=self.worker_id,
            host=self.host,
            pid=self.pid,
            version=__version__,
            capacity=self.capacity,
            started_at=self.started_at,
            messages_per_s=round(rate, 2),
        )
