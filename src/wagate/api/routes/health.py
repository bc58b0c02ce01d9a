"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wagate import __version__
from wagate.api.deps import AdminDep, ServicesDep
from wagate.store.repositories import messages, sessions

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(services: ServicesDep) -> Any:
    """200 when the database answers; 503 otherwise. Needs no key."""
    try:
        await services.db.ping()
        database = "ok"
    except Exception as exc:  # the whole point is to report it, not raise it
        return JSONResponse(
            {"status": "degraded", "version": __version__, "database": f"error: {exc!r}"[:200]},
            status_code=503,
        )
    return {
        "status": "ok",
        "version": __version__,
        "database": database,
        "database_backend": services.db.dialect,
        "worker_id": services.worker_id,
        "sessions_running_here": len(services.manager.running()),
    }


@router.get("/metrics", response_class=Response)
async def metrics(services: ServicesDep, _: AdminDep) -> Response:
    """Prometheus text format (admin key). Gauges are refreshed from the database per scrape."""
    async with services.db.read() as tx:
        by_status = await sessions.count_by_status(tx)
        stored = await messages.count_by_status(tx)
    services.metrics.sessions.clear()
    for status in (
        "stopped",
        "starting",
        "qr",
        "connected",
        "reconnecting",
        "logged_out",
        "failed",
    ):
        services.metrics.sessions.labels(status).set(by_status.get(status, 0))
    services.metrics.messages_stored.clear()
    for direction, kind, status, count in stored:
        services.metrics.messages_stored.labels(direction, kind, status).set(count)
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
