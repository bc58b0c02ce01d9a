"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wagate import __version__
from wagate.api.deps import AdminDep, ServicesDep, get_caller
from wagate.domain import AuthError
from wagate.store.repositories import messages, sessions, workers

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request, services: ServicesDep) -> Any:
    """200 ``{"status": "ok"}`` when the database answers, 503 ``{"status": "degraded"}``
    otherwise: all a load balancer needs, without a key. With the admin key: the version,
    the database's backend or error, this worker's id and how many sessions it runs."""
    detailed = await _is_admin(request)
    try:
        await services.db.ping()
        database = "ok"
    except Exception as exc:  # the whole point is to report it, not raise it
        body: dict[str, Any] = {"status": "degraded"}
        if detailed:
            body.update(version=__version__, database=f"error: {exc!r}"[:200])
        return JSONResponse(body, status_code=503)
    if not detailed:
        return {"status": "ok"}
    return {
        "status": "ok",
        "version": __version__,
        "database": database,
        "database_backend": services.db.dialect,
        "worker_id": services.worker_id,
        "sessions_running_here": len(services.manager.running()),
    }


async def _is_admin(request: Request) -> bool:
    if "authorization" not in request.headers:
        return False
    try:
        return (await get_caller(request, None, None)).is_admin
    except AuthError:
        return False


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(services: ServicesDep, _: AdminDep) -> Response:
    """Prometheus text format (admin key). Gauges are refreshed from the database per scrape."""
    async with services.db.read() as tx:
        by_status = await sessions.count_by_status(tx)
        stored = await messages.count_by_status(tx)
        fleet = await workers.list_workers(tx, services.clock.now(), services.settings.lease_ttl_s)
    metrics = services.metrics
    metrics.worker_capacity.set(services.manager.capacity)
    metrics.worker_sessions.set(len(services.manager.running()))
    for alive in (True, False):
        metrics.fleet_workers.labels(str(alive).lower()).set(
            sum(1 for view in fleet if view.alive is alive)
        )
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
