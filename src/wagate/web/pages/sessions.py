"""The sessions overview, linking a number, and one session's page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from wagate.api.routes import assistant as assistant_routes
from wagate.api.routes import health_session
from wagate.api.routes import settings as settings_routes
from wagate.api.routes.sessions import load_session
from wagate.domain import Forbidden, NotFound, SessionStatus
from wagate.domain.policy import resolve_policy
from wagate.outbox.guardrails import local_day_start
from wagate.store.repositories import activity, sessions, webhooks
from wagate.store.repositories.activity import DayCounts
from wagate.store.serialize import session_json
from wagate.web.access import PageUser
from wagate.web.lights import Light, session_light
from wagate.web.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)

NO_COUNTS = DayCounts(sent=0, received=0, failed=0, proactive_sent=0, last_activity=None)


@dataclass(frozen=True, slots=True)
class SessionRow:
    session: dict[str, Any]
    light: Light
    today: DayCounts
    daily_cap: int
    last_seen: datetime | None  # its last message or its connection, what the light weighs

    @property
    def cap_use(self) -> int:
        """Percent of the day's proactive messages used."""
        return min(100, round(100 * self.today.proactive_sent / max(1, self.daily_cap)))


async def session_rows(request: Request, user: Any, only: str | None = None) -> list[SessionRow]:
    """Every session the user sees, with its light and today's traffic. "Today" is the
    session's own day (its guardrails' time zone), the day its daily cap counts."""
    services = request.app.state.services
    now = services.clock.now()
    async with services.db.read() as tx:
        rows = await sessions.list_sessions(tx, user.tenant_id)
        if only is not None:
            rows = [r for r in rows if r.id == only]
        policies = {r.id: resolve_policy(services.policy_defaults, r.settings or {}) for r in rows}
        day_starts = {sid: local_day_start(now, p) for sid, p in policies.items()}
        counts: dict[str, DayCounts] = {}
        for since in set(day_starts.values()):
            day = await activity.session_day_counts(tx, user.tenant_id, since)
            counts |= {sid: c for sid, c in day.items() if day_starts.get(sid) == since}
        held = await activity.held_sessions(tx, user.tenant_id)
    result = []
    for row in rows:
        today = counts.get(row.id, NO_COUNTS)
        light = session_light(
            row.status,
            last_activity=today.last_activity,
            connected_at=row.connected_at,
            held_by=held.get(row.id),
            now=now,
        )
        seen = [t for t in (today.last_activity, row.connected_at) if t is not None]
        result.append(
            SessionRow(
                session_json(row),
                light,
                today,
                policies[row.id].daily_cap,
                max(seen, default=None),
            )
        )
    return result


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, user: PageUser) -> HTMLResponse:
    rows = await session_rows(request, user)
    return render(request, "sessions.html", user, rows=rows, page="sessions")


@router.get("/sessions/table", response_class=HTMLResponse)
async def overview_table(request: Request, user: PageUser) -> HTMLResponse:
    """The table alone, refetched when an event arrives."""
    rows = await session_rows(request, user)
    return render(request, "_sessions_table.html", user, rows=rows)


@router.get("/sessions/new", response_class=HTMLResponse)
async def new_session(request: Request, user: PageUser) -> HTMLResponse:
    if not user.can_write:
        raise Forbidden("a viewer may read but not change anything")
    registry = request.app.state.services.registry
    transports = [
        {"name": name, "fields": registry.config_fields(name)} for name in registry.available()
    ]
    return render(request, "session_new.html", user, transports=transports, page="sessions")


async def _session_context(request: Request, user: Any, session_id: str) -> dict[str, Any]:
    services = request.app.state.services
    row = await load_session(services, session_id, user)
    capabilities = services.registry.capabilities(row.transport)
    listed = await session_rows(request, user, only=row.id)
    if not listed:
        raise NotFound(f"session {session_id!r} not found")
    return {
        "row": listed[0],
        "session": listed[0].session,
        "capabilities": capabilities,
        "qr_svg": qr_svg(row.qr) if row.status == SessionStatus.QR and row.qr else None,
        "pairing_code": row.pairing_code if row.status == SessionStatus.QR else None,
    }


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(request: Request, session_id: str, user: PageUser) -> HTMLResponse:
    services = request.app.state.services
    context = await _session_context(request, user, session_id)
    health = await health_session.session_health(session_id, services, user)
    policy = await settings_routes.get_settings(session_id, services, user)
    assistant = None
    if services.engine is not None:
        assistant = await assistant_routes.get_assistant(session_id, services, user)
    async with services.db.read() as tx:
        hooks = [
            h
            for h in await webhooks.list_webhooks(tx, user.tenant_id)
            if h.session_id in (None, session_id)
        ]
    return render(
        request,
        "session.html",
        user,
        page="sessions",
        health=health,
        policy=policy,
        assistant=assistant,
        hooks=hooks,
        **context,
    )


@router.get("/sessions/{session_id}/health", response_class=HTMLResponse)
async def health_panel(request: Request, session_id: str, user: PageUser) -> HTMLResponse:
    services = request.app.state.services
    session = await load_session(services, session_id, user)
    health = await health_session.session_health(session_id, services, user)
    return render(
        request,
        "_session_health.html",
        user,
        session=session_json(session),
        health=health,
    )


@router.get("/sessions/{session_id}/link", response_class=HTMLResponse)
async def link_panel(request: Request, session_id: str, user: PageUser) -> HTMLResponse:
    """The status and QR code part of the session page, refetched on every event: the QR
    code is redrawn as it rotates, and the light turns green when the phone links."""
    context = await _session_context(request, user, session_id)
    return render(request, "_session_link.html", user, **context)


def qr_svg(raw: str) -> Markup:
    """The QR code as inline SVG (segno), so it scales crisply on any screen."""
    svg = segno.make(raw, error="l", micro=False).svg_inline(
        scale=5, border=3, dark="#111", light="#fff", title="QR code: scan it with WhatsApp"
    )
    return Markup(svg)
