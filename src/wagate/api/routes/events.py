"""Pulling the event log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from wagate.api.deps import PrincipalDep, ServicesDep
from wagate.api.schemas import EventPage
from wagate.domain import InvalidRequest
from wagate.store.repositories import events
from wagate.store.serialize import iso

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get("", response_model=EventPage)
async def list_events(
    services: ServicesDep,
    principal: PrincipalDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    session_id: str | None = None,
    type: Annotated[list[str] | None, Query()] = None,
) -> Any:
    """Events oldest first after ``after`` (a cursor from an earlier page)."""
    if after is not None and not after.isdigit():
        raise InvalidRequest("after is not a cursor this API gave out", code="invalid_cursor")
    async with services.db.read() as tx:
        rows = await events.list_events(
            tx,
            tenant_id=principal.tenant_id,
            after=int(after or 0),
            limit=limit,
            session_id=session_id,
            types=type,
        )
    items = [
        {
            "id": e.id,
            "cursor": str(e.seq),
            "type": e.type,
            "session_id": e.session_id,
            "timestamp": iso(e.created_at),
            "data": e.data,
        }
        for e in rows
    ]
    return {"items": items, "next_cursor": items[-1]["cursor"] if items else after}
