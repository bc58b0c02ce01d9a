"""Prometheus metrics of webhook delivery, registered in the app instance's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "wagate_webhook_attempts",
            "Webhook delivery attempts by outcome: delivered, retry (failed, will be "
            "retried), dead (failed for the last time), gone (410: endpoint disabled).",
            ["outcome"],
            registry=registry,
        )
        self.retries = Counter(
            "wagate_webhook_retries",
            "Attempts that were not an event's first (retries and replays).",
            registry=registry,
        )
        self.dead_letters = Counter(
            "wagate_webhook_dead_letters",
            "Deliveries given up after the last attempt.",
            registry=registry,
        )
        self.disabled = Counter(
            "wagate_webhook_endpoints_disabled",
            "Endpoints disabled by delivery, by reason (gone, failing).",
            ["reason"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "wagate_webhook_in_flight",
            "Requests in flight per webhook endpoint.",
            ["webhook_id"],
            registry=registry,
        )
        self.latency = Histogram(
            "wagate_webhook_request_seconds",
            "Duration of webhook requests (any answer or failure).",
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
