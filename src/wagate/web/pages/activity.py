"""Activity: messages per minute and session status changes over the last hours."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from wagate.store.repositories import activity, sessions
from wagate.web.access import PageUser
from wagate.web.charts import line_chart, rate_series, status_timeline
from wagate.web.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)

WINDOWS = {1: 60, 3: 60, 6: 300, 24: 900}  # hours shown: bucket seconds


@router.get("/activity", response_class=HTMLResponse)
async def activity_page(
    request: Request,
    user: PageUser,
    hours: Annotated[int, Query()] = 3,
    session_id: str | None = None,
) -> HTMLResponse:
    services = request.app.state.services
    hours = hours if hours in WINDOWS else 3
    until = services.clock.now()
    since = until - timedelta(hours=hours)
    async with services.db.read() as tx:
        rows = await sessions.list_sessions(tx, user.tenant_id)
        chosen = session_id if any(r.id == session_id for r in rows) else None
        rates = await activity.message_rates(
            tx, user.tenant_id, since, until, bucket_s=WINDOWS[hours], session_id=chosen
        )
        changes = await activity.status_changes(tx, user.tenant_id, since, session_id=chosen)
    shown = [r for r in rows if chosen is None or r.id == chosen]
    per = "minute" if WINDOWS[hours] == 60 else f"{WINDOWS[hours] // 60} minutes"
    totals = {
        "sent": sum(b.sent for b in rates),
        "received": sum(b.received for b in rates),
        "failed": sum(b.failed for b in rates),
    }
    return render(
        request,
        "activity.html",
        user,
        page="activity",
        hours=hours,
        windows=list(WINDOWS),
        sessions=rows,
        session_id=chosen,
        totals=totals,
        rate_chart=line_chart(
            rate_series(rates), title=f"Messages per {per}, last {hours} h", width=720
        ),
        status_chart=status_timeline(
            changes,
            since,
            until,
            title=f"Session status, last {hours} h",
            current={r.id: r.status for r in shown},
            labels={r.id: r.name for r in shown},
            width=720,
        ),
        changes=changes[:50],
        names={r.id: r.name for r in rows},
    )
