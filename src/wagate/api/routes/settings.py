"""A session's delivery policy: guardrails, pacing and TTL (overrides of the global defaults)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from wagate.api.deps import PrincipalDep, ServicesDep
from wagate.api.routes.sessions import load_session
from wagate.domain.policy import validate_overrides
from wagate.store.repositories import sessions

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


def _view(services: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    _, effective = validate_overrides(services.policy_defaults, overrides)
    return {
        "effective": effective.model_dump(mode="json"),
        "overrides": overrides,
        "defaults": services.policy_defaults.model_dump(mode="json"),
    }


@router.get("/{session_id}/settings")
async def get_settings(session_id: str, services: ServicesDep, principal: PrincipalDep) -> Any:
    """The session's effective delivery policy, its own overrides and the global defaults."""
    session = await load_session(services, session_id, principal)
    return _view(services, session.settings or {})


@router.put("/{session_id}/settings")
async def put_settings(
    session_id: str, body: dict[str, Any], services: ServicesDep, principal: PrincipalDep
) -> Any:
    """Replace the session's overrides; a key set to null goes back to the global default.

    Keys: message_ttl_s, rate_per_minute, burst_size, burst_window_s, burst_cooldown_s,
    daily_cap, duplicate_window_s, opt_out_keywords, quiet_hours ({"start", "end"}),
    timezone, pacing (instant|fast|normal|slow).
    """
    session = await load_session(services, session_id, principal)
    wanted = {k: v for k, v in body.items() if v is not None}
    clean, _ = validate_overrides(services.policy_defaults, wanted)
    async with services.db.transaction() as tx:
        row = await sessions.get_session(tx, session.id, None)
        row.settings = clean
        row.updated_at = services.clock.now()
    services.outbox.policy_changed(session.id)
    return _view(services, clean)
