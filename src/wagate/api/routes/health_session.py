"""A session's health: connection, recent traffic and reconnects, at a glance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter

from wagate.api.deps import PrincipalDep, ServicesDep
from wagate.api.routes.sessions import load_session
from wagate.domain import SessionStatus
from wagate.store.repositories import messages
from wagate.store.serialize import iso

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])

_HEALTH = {
    SessionStatus.CONNECTED: "healthy",
    SessionStatus.STARTING: "degraded",
    SessionStatus.QR: "degraded",
    SessionStatus.RECONNECTING: "degraded",
}


@router.get("/{session_id}/health")
async def session_health(session_id: str, services: ServicesDep, principal: PrincipalDep) -> Any:
    """``healthy`` when connected, ``degraded`` while (re)connecting or waiting for a scan,
    ``unhealthy`` when stopped, logged out or failed; with the last 24 h of traffic."""
    session = await load_session(services, session_id, principal)
    now = services.clock.now()
    async with services.db.read() as tx:
        activity = await messages.activity_since(tx, session.id, now - timedelta(hours=24))
    runtime = services.manager.runtime(session.id)
    status = SessionStatus(session.status)
    last = max((t for t in (activity["last_activity"], session.connected_at) if t), default=None)
    return {
        "session_id": session.id,
        "status": _HEALTH.get(status, "unhealthy"),
        "connection": status.value,
        "reason": session.status_reason,
        "last_activity": iso(last),
        "reconnect_attempts": runtime.reconnect_attempts if runtime is not None else None,
        "running_here": runtime is not None,
        "worker": session.lease_owner,
        "messages_last_24h": {k: activity[k] for k in ("sent", "received", "failed")},
        "proxy_status": "unknown" if session.proxy_url else "none",
    }
