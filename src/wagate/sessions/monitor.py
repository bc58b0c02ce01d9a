"""The protocol monitor: what one session's engine did that we did not expect.

Counted per session, in the memory of the worker that runs it (the health
route shows them; a restart starts them afresh), and per transport in
Prometheus for the fleet view:

- close codes the close-code policy does not know (they reconnect with backoff,
  but a new code from WhatsApp should be noticed and added to the table);
- event types the transport received and could not place (new WhatsApp features,
  engine upgrades), and payloads kept as dead letters because they did not parse;
- success and failure of each operation against the engine (connect, send,
  keepalive, presence, read receipts), so a session that "works" but fails one
  call in five stands out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from wagate.observability import OTHER, Metrics

OPERATIONS = ("connect", "send", "keepalive", "presence", "read_receipts")


@dataclass(slots=True)
class OperationStats:
    ok: int = 0
    failed: int = 0
    last_error: str | None = None

    def as_json(self) -> dict[str, Any]:
        total = self.ok + self.failed
        return {
            "ok": self.ok,
            "failed": self.failed,
            "success_rate": round(self.ok / total, 4) if total else None,
            "last_error": self.last_error,
        }


MAX_KINDS = 100  # distinct unknown kinds a session keeps counts of (payloads choose them)


@dataclass(slots=True)
class ProtocolMonitor:
    transport: str
    metrics: Metrics | None = None
    unknown_close_codes: Counter[int] = field(default_factory=Counter)
    unknown_events: Counter[str] = field(default_factory=Counter)
    unparseable: int = 0
    operations: dict[str, OperationStats] = field(
        default_factory=lambda: {name: OperationStats() for name in OPERATIONS}
    )

    def unknown_close_code(self, code: int) -> None:
        if code in self.unknown_close_codes or len(self.unknown_close_codes) < MAX_KINDS:
            self.unknown_close_codes[code] += 1
        if self.metrics is not None:
            label = self.metrics.bounded_label("unknown_close_codes", str(code))
            self.metrics.unknown_close_codes.labels(self.transport, label).inc()

    def unknown_event(self, kind: str) -> None:
        kind = kind[:64]
        counted = (
            kind if kind in self.unknown_events or len(self.unknown_events) < MAX_KINDS else OTHER
        )
        self.unknown_events[counted] += 1
        if self.metrics is not None:
            label = self.metrics.bounded_label("unknown_events", kind)
            self.metrics.unknown_events.labels(self.transport, label).inc()

    def payload_unparseable(self) -> None:
        self.unparseable += 1

    def record(self, operation: str, ok: bool, error: str | None = None) -> None:
        stats = self.operations.setdefault(operation, OperationStats())
        if ok:
            stats.ok += 1
        else:
            stats.failed += 1
            stats.last_error = error
        if self.metrics is not None:
            outcome = "ok" if ok else "failed"
            self.metrics.transport_operations.labels(self.transport, operation, outcome).inc()

    @asynccontextmanager
    async def track(self, operation: str) -> AsyncIterator[None]:
        """Count the block as one call of ``operation``: a failure if it raises."""
        try:
            yield
        except BaseException as exc:
            self.record(operation, False, _describe(exc))
            raise
        self.record(operation, True)

    def as_json(self) -> dict[str, Any]:
        return {
            "unknown_close_codes": {str(k): v for k, v in sorted(self.unknown_close_codes.items())},
            "unknown_event_types": dict(sorted(self.unknown_events.items())),
            "unparseable_payloads": self.unparseable,
            "operations": {name: stats.as_json() for name, stats in self.operations.items()},
        }


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return str(code) if code else type(exc).__name__
