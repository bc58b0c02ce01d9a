"""Logs and metrics, shared by every layer (imports nothing else of wagate).

Metrics live in a registry per application instance rather than the global
one, so several apps (tests, benchmarks) can live in one process.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """structlog to stderr, JSON by default; bound context vars (session_id...) included."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


log = structlog.get_logger("wagate")


MAX_FREE_LABELS = 100  # distinct values of a label that comes from outside wagate
OTHER = "other"


class Metrics:
    """The Prometheus metrics of one wagate instance."""

    def __init__(self) -> None:
        self._free_labels: dict[str, set[str]] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.sessions = Gauge(
            "wagate_sessions", "Sessions by observed status.", ["status"], registry=self.registry
        )
        self.worker_capacity = Gauge(
            "wagate_worker_capacity",
            "Sessions this worker may run (WAGATE_WORKER_CAPACITY).",
            registry=self.registry,
        )
        self.worker_sessions = Gauge(
            "wagate_worker_sessions", "Sessions this worker runs now.", registry=self.registry
        )
        self.session_moves = Counter(
            "wagate_session_moves_total",
            "Sessions this worker gave up for the fleet's sake, by why (displaced: a "
            "better-ranked session needed the place; rebalanced: handed over to a worker "
            "below its share).",
            ["reason"],
            registry=self.registry,
        )
        self.lease_commits = Counter(
            "wagate_lease_commits_total",
            "Write transactions of the lease machinery (claims, renewals with the heartbeat, "
            "releases, waiting reports): the fleet's overhead, against wagate_db_commits.",
            registry=self.registry,
        )
        self.fleet_workers = Gauge(
            "wagate_fleet_workers",
            "Workers sharing the database, by whether they are alive (heard from within the "
            "lease TTL).",
            ["alive"],
            registry=self.registry,
        )
        self.messages_stored = Gauge(
            "wagate_messages",
            "Stored messages by direction, type and status.",
            ["direction", "type", "status"],
            registry=self.registry,
        )
        self.messages_in = Counter(
            "wagate_messages_received",
            "Inbound messages stored, by type.",
            ["type"],
            registry=self.registry,
        )
        self.messages_out = Counter(
            "wagate_messages_sent_status",
            "Outbound message status changes, by type and new status.",
            ["type", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "wagate_errors", "Errors by machine-readable code.", ["code"], registry=self.registry
        )
        self.session_transitions = Counter(
            "wagate_session_transitions",
            "Session status changes, by new status.",
            ["status"],
            registry=self.registry,
        )
        self.reconnects = Counter(
            "wagate_session_reconnects",
            "Reconnect attempts, by session.",
            ["session_id"],
            registry=self.registry,
        )
        self.decrypt_failures = Counter(
            "wagate_decrypt_failures",
            "Messages that failed to decrypt (Bad MAC), by session.",
            ["session_id"],
            registry=self.registry,
        )
        self.transport_operations = Counter(
            "wagate_transport_operations",
            "Calls into a session's engine, by transport, operation and outcome.",
            ["transport", "operation", "outcome"],
            registry=self.registry,
        )
        self.unknown_close_codes = Counter(  # values through bounded_label()
            "wagate_unknown_close_codes",
            "Close codes the close-code policy has no row for, by transport and code.",
            ["transport", "code"],
            registry=self.registry,
        )
        self.unknown_events = Counter(
            "wagate_unknown_events",
            "Engine event types wagate could not place, by transport and kind.",
            ["transport", "kind"],
            registry=self.registry,
        )
        self.holds = Counter(
            "wagate_guardrail_holds",
            "Messages made to wait by a guardrail or a retry, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.send_latency = Histogram(
            "wagate_send_seconds",
            "Time from accepting a message to the network's ack.",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )

    def sent_total(self) -> float:
        """Messages this process saw the network accept (status ``sent``), all types."""
        return sum(
            sample.value
            for metric in self.messages_out.collect()
            for sample in metric.samples
            if sample.name.endswith("_total") and sample.labels.get("status") == "sent"
        )

    def bounded_label(self, metric: str, value: str) -> str:
        """``value`` as a label of ``metric``, or ``"other"`` once that label has
        :data:`MAX_FREE_LABELS` values: labels from payloads (an engine's event kind, a
        close code) must not grow the registry without bound."""
        seen = self._free_labels.setdefault(metric, set())
        if value in seen:
            return value
        if len(seen) >= MAX_FREE_LABELS:
            return OTHER
        seen.add(value)
        return value


class WriteStatsCollector(Collector):
    """Commits and group-commit batches, read from the database handle at scrape time.

    ``stats()`` returns (commits, batches, {kind: ops}); the benchmarks divide
    commits by messages to report commits per message.
    """

    def __init__(self, stats: Callable[[], tuple[int, int, dict[str, int]]]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        commits, batches, ops = self.stats()
        yield CounterMetricFamily(
            "wagate_db_commits", "Write transactions committed by this process.", value=commits
        )
        yield CounterMetricFamily(
            "wagate_db_batches", "Group-commit batches (each one transaction).", value=batches
        )
        by_kind = CounterMetricFamily(
            "wagate_db_batch_ops", "Writes applied through group commit, by kind.", labels=["kind"]
        )
        for kind, count in sorted(ops.items()):
            by_kind.add_metric([kind], count)
        yield by_kind
