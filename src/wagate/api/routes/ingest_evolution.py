"""Evolution API's webhooks for ``evolution`` sessions.

``POST /v1/ingest/evolution/{session_name}?token=...`` takes one webhook. The
session is the ``evolution`` session of that name whose ingest token matches
(an evolution session's JSON shows the whole URL as ``ingest_url``). With
Evolution's "webhook by events" on, the event name is appended to the URL:
``/v1/ingest/evolution/{session_name}/{event}`` is accepted too, and so is the
URL Evolution builds when the token is the last thing in it
(``...?token=<token>/messages-upsert``).

Evolution retries failed deliveries, so anything we cannot use is still
answered 200: payloads we do not understand are dead-lettered, event types we
do not know are logged, counted by the session's protocol monitor and ignored.
Only a missing or wrong token (401, the same for a session name that does not
exist) and a body that is not JSON (400) are refused.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import APIRouter, Request

from wagate.api.deps import ServicesDep
from wagate.api.schemas import IngestOut
from wagate.domain import (
    AuthError,
    MessageReceived,
    TransportEvent,
    Unparseable,
    WagateError,
)
from wagate.store.models import Session
from wagate.store.repositories import sessions
from wagate.transports.evolution import normalize_evolution_payload

if TYPE_CHECKING:
    from wagate.app import Services

log = structlog.get_logger("wagate.ingest.evolution")

router = APIRouter(prefix="/v1/ingest/evolution", tags=["ingest"])


class MalformedWebhook(WagateError):
    """The webhook body is not valid JSON."""

    code = "invalid_json"
    status_code = 400


async def _session_for(services: Services, name: str, token: str | None) -> Session:
    """The evolution session called ``name`` whose ingest token is ``token``.

    An unknown name and a wrong token get the same 401: the answer tells nobody
    without a token which session names exist (in any tenant)."""
    if not token:
        raise AuthError(
            "add the session's ingest token as ?token= (see the session's ingest_url)",
            code="missing_ingest_token",
        )
    async with services.db.read() as tx:
        rows = await sessions.sessions_named(tx, name, transport="evolution")
    given = token.encode("utf-8", "surrogateescape")
    for row in rows:
        if hmac.compare_digest(row.ingest_token.encode(), given):
            return row
    raise AuthError(
        "no evolution session of that name has this ingest token", code="invalid_ingest_token"
    )


def _split_token(token: str | None, event: str | None) -> tuple[str | None, str | None]:
    """``<token>/messages-upsert``: Evolution appended the event after our query string."""
    if token and "/" in token:
        token, _, suffix = token.partition("/")
        event = event or suffix or None
    return token, event


async def _ingest(
    request: Request, services: Services, session_name: str, event: str | None
) -> dict[str, Any]:
    token, event = _split_token(request.query_params.get("token"), event)
    session = await _session_for(services, session_name, token)
    body = await request.body()
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedWebhook("the webhook body is not valid JSON") from None
    result = normalize_evolution_payload(
        payload, received_at=services.clock.now(), own_phone=session.phone, event=event
    )
    if not result.handled:
        log.warning(
            "evolution webhook event not handled; ignored",
            session_id=session.id,
            evolution_event=result.event or None,
        )
        for unknown in result.events:  # the protocol monitor counts it
            await services.manager.ingest(session.id, session.tenant_id, unknown)
        return {"status": "ignored", "event": result.event, "events": 0}
    for normalized in result.events:
        normalized = _within_media_limit(normalized, services.settings.media_max_bytes, session)
        if isinstance(normalized, Unparseable):
            log.warning(
                "evolution payload not understood; dead-lettered",
                session_id=session.id,
                reason=normalized.reason,
            )
        await services.manager.ingest(session.id, session.tenant_id, normalized)
    return {"status": "ok", "event": result.event, "events": len(result.events)}


def _within_media_limit(event: TransportEvent, limit: int, session: Session) -> TransportEvent:
    """Inline media larger than ``WAGATE_MEDIA_MAX_BYTES`` is not stored; the message is."""
    if isinstance(event, MessageReceived) and event.media and len(event.media.data) > limit:
        log.warning(
            "inline media over the size limit; message kept without its bytes",
            session_id=session.id,
            wa_message_id=event.message.wa_message_id,
            size=len(event.media.data),
        )
        return MessageReceived(event.message, None)
    return event


@router.post(
    "/{session_name}",
    summary="Evolution API webhooks for an evolution session",
    response_model=IngestOut,
    response_model_exclude_unset=True,
)
async def receive_evolution_webhook(
    session_name: str, request: Request, services: ServicesDep
) -> dict[str, Any]:
    """Check the ingest token, normalize the webhook, hand each event to the session."""
    return await _ingest(request, services, session_name, None)


@router.post(
    "/{session_name}/{event}",
    summary="Evolution API webhooks, with 'webhook by events' on",
    response_model=IngestOut,
    response_model_exclude_unset=True,
)
async def receive_evolution_webhook_by_event(
    session_name: str, event: str, request: Request, services: ServicesDep
) -> dict[str, Any]:
    """The same, for the per-event URLs Evolution builds (``.../messages-upsert``)."""
    return await _ingest(request, services, session_name, event)
