"""The event log: pulled a page at a time, or followed as server-sent events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from wagate.api.cursors import parse_cursor
from wagate.api.deps import PrincipalDep, ServicesDep
from wagate.api.schemas import EventPage
from wagate.domain import TooManyStreams
from wagate.events import EventStreamResponse, event_json
from wagate.store.repositories import events, tenants

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
    start = parse_cursor(after, "after") or 0
    horizon = await services.horizon.refresh()
    async with services.db.read() as tx:
        rows = await events.list_events(
            tx,
            tenant_id=principal.tenant_id,
            after=start,
            upto=horizon,
            limit=limit,
            session_id=session_id,
            types=type,
        )
    items = [event_json(e) for e in rows]
    return {"items": items, "next_cursor": items[-1]["cursor"] if items else after}


@router.get(
    "/stream",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}},
)
async def stream_events(
    services: ServicesDep,
    principal: PrincipalDep,
    after: str | None = None,
    session_id: str | None = None,
    type: Annotated[list[str] | None, Query()] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """Follow the log live. Each message's ``id`` is the event's cursor; reconnect with
    ``Last-Event-ID`` (or ``?after=``) to continue without a gap. Without either, the
    stream starts at the end of the log. A comment every 15 s keeps proxies from closing it.
    """
    start = parse_cursor(last_event_id, "Last-Event-ID")
    if start is None:
        start = parse_cursor(after, "after")
    credential = principal.credential_id
    if services.streams.open_for(credential) >= services.streams.max_per_key:
        raise TooManyStreams(
            f"this key has {services.streams.max_per_key} live streams open on this worker "
            "(WAGATE_STREAMS_PER_KEY)"
        )
    key_id, login_id = principal.key_id, principal.login_id

    async def still_valid() -> bool:
        """Checked at each keep-alive: a key revoked or a login ended on another worker
        ends this stream too."""
        if login_id is not None:
            return await services.authenticator.still_active(login_id)
        assert key_id is not None
        async with services.db.read() as tx:
            return await tenants.key_is_active(tx, key_id)

    return EventStreamResponse(
        services.streams.follow(
            tenant_id=principal.tenant_id,
            after=start,
            session_id=session_id,
            types=type,
            key_id=credential,
            still_valid=still_valid if credential is not None else None,
        )
    )
