"""A session's health: connection, recent traffic and reconnects, at a glance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter

from wagate.api.deps import PrincipalDep, ServicesDep
from wagate.api.routes.sessions import load_session
from wagate.domain import NotConnected, OwnerTimeout, SessionStatus
from wagate.store.repositories import messages
from wagate.store.serialize import iso

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])

_HEALTH = {
    SessionStatus.CONNECTED: "healthy",
    SessionStatus.STARTING: "degraded",
    SessionStatus.QR: "degraded",
    SessionStatus.RECONNECTING: "degraded",
}


async def _connection(services: Any, session_id: str) -> dict[str, Any] | None:
    """Reconnects and protocol counters, from the worker that runs the session: this one,
    or its owner (None when no worker runs it, or the owner does not answer)."""
    if services.manager.runtime(session_id) is None and not await services.remote.runs_elsewhere(
        session_id
    ):
        return None
    try:
        answer: dict[str, Any] = await services.remote.call(session_id, "connection", {})
    except (NotConnected, OwnerTimeout):
        return None
    return answer


@router.get("/{session_id}/health")
async def session_health(session_id: str, services: ServicesDep, principal: PrincipalDep) -> Any:
    """``healthy`` when connected, ``degraded`` while (re)connecting or waiting for a scan
    (or connected through a proxy that stopped answering), ``unhealthy`` when stopped,
    logged out or failed; with the last 24 h of traffic, the proxy's reachability and,
    on the worker that runs the session, the protocol monitor's counters."""
    session = await load_session(services, session_id, principal)
    now = services.clock.now()
    async with services.db.read() as tx:
        activity = await messages.activity_since(tx, session.id, now - timedelta(hours=24))
    runtime = services.manager.runtime(session.id)
    connection = await _connection(services, session.id)
    status = SessionStatus(session.status)
    last = max((t for t in (activity["last_activity"], session.connected_at) if t), default=None)
    health = _HEALTH.get(status, "unhealthy")
    own = services.manager.session_proxy(session)
    proxy_url = own or services.settings.default_proxy_url
    if not services.registry.capabilities(session.transport).proxy:
        proxy_url = None  # the default proxy is not used by this transport
    # the operator's default proxy may sit inside the network; a tenant's may not
    proxy = await services.proxy_probe.check(proxy_url, trusted=own is None) if proxy_url else None
    if proxy is not None and proxy.state != "reachable" and health == "healthy":
        health = "degraded"
    return {
        "session_id": session.id,
        "status": health,
        "connection": status.value,
        "reason": session.status_reason,
        "last_activity": iso(last),
        "reconnect_attempts": connection["reconnect_attempts"] if connection else None,
        "running_here": runtime is not None,
        "worker": session.lease_owner,
        "messages_last_24h": {k: activity[k] for k in ("sent", "received", "failed")},
        "proxy_status": proxy.state if proxy is not None else "none",
        "proxy": proxy.as_json() if proxy is not None else None,
        "protocol": connection["protocol"] if connection else None,
    }
