"""Meta's webhooks for ``cloud`` sessions: the subscription handshake and notifications.

``GET /v1/ingest/cloud`` answers Meta's handshake when ``hub.verify_token``
is the verify token of a cloud session. ``POST /v1/ingest/cloud`` takes a
notification: its ``X-Hub-Signature-256`` must be the HMAC of the raw body
with the app secret of the sessions it is routed to (by
``metadata.phone_number_id``); then every message and status in it becomes a
transport event handed to :meth:`SessionManager.ingest`. Inbound media is
downloaded from Graph at arrival, so it is stored and served like any other.

Meta retries a notification until it gets a 200, so anything we cannot use
(a phone number id no session has, a shape we do not understand) is logged
or dead-lettered and still answered 200.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pywa_async.errors import WhatsAppError

from wagate.api.deps import ServicesDep
from wagate.api.schemas import IngestOut
from wagate.domain import (
    AuthError,
    Forbidden,
    InboundMedia,
    MessageReceived,
    TransportEvent,
    WagateError,
)
from wagate.store.repositories import messages, sessions
from wagate.transports.cloud import (
    CloudConfig,
    GraphSettings,
    download_media,
    graph_client,
    media_id_of,
    normalize_notification,
    parse_cloud_config,
    verify_challenge,
    verify_signature,
)

if TYPE_CHECKING:
    from wagate.app import Services

log = structlog.get_logger("wagate.ingest.cloud")

router = APIRouter(prefix="/v1/ingest", tags=["ingest"])

SIGNATURE_HEADER = "x-hub-signature-256"


class MalformedNotification(WagateError):
    """The notification body is not valid JSON."""

    code = "invalid_json"
    status_code = 400


@dataclass(frozen=True, slots=True)
class CloudSession:
    id: str
    tenant_id: str
    config: CloudConfig


class CloudDirectory:
    """The cloud sessions with their configs opened, kept between notifications.

    Reading every session and opening its secrets costs more than the rest of
    a notification. The list is read again when a session row changed in this
    process (the session row cache's generation moved) and at least every
    :attr:`ttl_s` seconds (a session created or changed on another worker).
    """

    ttl_s = 2.0

    def __init__(self) -> None:
        self._sessions: list[CloudSession] | None = None
        self._generation = -1
        self._read_at = 0.0

    async def sessions(self, services: Services) -> list[CloudSession]:
        rows = services.db.session_rows
        stale = time.monotonic() - self._read_at >= self.ttl_s
        if self._sessions is None or rows.generation != self._generation or stale:
            generation = rows.generation
            self._sessions = await _cloud_sessions(services)
            self._generation, self._read_at = generation, time.monotonic()
        return self._sessions


def _directory(request: Request) -> CloudDirectory:
    directory: CloudDirectory | None = getattr(request.app.state, "cloud_directory", None)
    if directory is None:
        directory = request.app.state.cloud_directory = CloudDirectory()
    return directory


async def _cloud_sessions(services: Services) -> list[CloudSession]:
    """Every cloud session with its config opened (secrets included)."""
    async with services.db.read() as tx:
        rows = [row for row in await sessions.list_sessions(tx, None) if row.transport == "cloud"]
    found = []
    for row in rows:
        try:
            config = parse_cloud_config(services.manager.session_config(row))
        except WagateError:
            log.warning("cloud session with an unusable config", session_id=row.id)
            continue
        found.append(CloudSession(row.id, row.tenant_id, config))
    return found


@router.get("/cloud", response_class=PlainTextResponse, summary="Meta's webhook handshake")
async def verify_cloud_webhook(request: Request, services: ServicesDep) -> PlainTextResponse:
    """Answer ``hub.challenge`` when ``hub.verify_token`` is a cloud session's verify token."""
    query = request.query_params
    tokens = [s.config.verify_token for s in await _cloud_sessions(services)]
    if not verify_challenge(query.get("hub.mode"), query.get("hub.verify_token"), tokens):
        raise Forbidden(
            "hub.mode must be 'subscribe' and hub.verify_token a cloud session's verify token",
            code="verify_token_mismatch",
        )
    return PlainTextResponse(query.get("hub.challenge", ""))


@router.post(
    "/cloud",
    summary="Meta's webhook notifications",
    response_model=IngestOut,
    response_model_exclude_unset=True,
)
async def receive_cloud_notification(request: Request, services: ServicesDep) -> dict[str, Any]:
    """Check the signature, route by phone number id, ingest every message and status."""
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise AuthError("missing X-Hub-Signature-256", code="invalid_signature")
    body = await request.body()
    sessions = await _directory(request).sessions(services)
    secrets = {session.config.app_secret for session in sessions}
    if not any(verify_signature(body, signature, secret) for secret in secrets):
        # before parsing: a body nobody signed is not read further
        raise AuthError(
            "X-Hub-Signature-256 does not match an app secret", code="invalid_signature"
        )
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedNotification("the notification body is not valid JSON") from None
    try:
        routed = normalize_notification(payload)
    except ValueError as exc:
        log.warning("cloud notification not understood; ignored", reason=str(exc))
        return {"status": "ignored", "events": 0}

    wanted = {phone_number_id for phone_number_id, _ in routed}
    targets: dict[str, list[CloudSession]] = {}
    for session in sessions:
        if session.config.phone_number_id in wanted:
            targets.setdefault(session.config.phone_number_id, []).append(session)
    for phone_number_id, candidates in targets.items():
        signed = [s for s in candidates if verify_signature(body, signature, s.config.app_secret)]
        if not signed:
            raise AuthError(
                "X-Hub-Signature-256 does not match the app secret", code="invalid_signature"
            )
        targets[phone_number_id] = signed

    delivered = 0
    unknown: set[str] = set()
    for phone_number_id, event in routed:
        receivers = targets.get(phone_number_id)
        if not receivers:
            unknown.add(phone_number_id)
            continue
        for session in receivers:
            ready = await _with_media(services, session, event)
            await services.manager.ingest(session.id, session.tenant_id, ready)
            delivered += 1
    for phone_number_id in sorted(unknown):
        log.warning(
            "cloud notification for a phone number id no session has; ignored",
            phone_number_id=phone_number_id or None,
        )
    return {"status": "ok", "events": delivered}


async def _with_media(
    services: Services, session: CloudSession, event: TransportEvent
) -> TransportEvent:
    """The event with its attachment's bytes, downloaded from Graph now.

    A failed download keeps the message with its media metadata (type, mime
    type, file name) and logs why; the bytes are then simply not served.
    """
    if not isinstance(event, MessageReceived) or event.media is not None:
        return event
    media_id = media_id_of(event.message)
    if media_id is None:
        return event
    async with services.db.read() as tx:  # Meta retries notifications: download once
        if await messages.find_by_wa_id(tx, session.id, event.message.wa_message_id):
            return event
    settings = services.settings
    wa, http = graph_client(
        session.config.phone_number_id,
        session.config.access_token,
        GraphSettings(settings.cloud_graph_url, settings.media_fetch_timeout_s),
    )
    try:
        downloaded = await download_media(wa, media_id, settings.media_max_bytes)
    except (WhatsAppError, httpx.HTTPError, ValueError) as exc:
        log.warning(
            "inbound media download failed; message kept without its bytes",
            session_id=session.id,
            wa_message_id=event.message.wa_message_id,
            error=type(exc).__name__,
            detail=str(exc)[:200],
        )
        return event
    finally:
        await http.aclose()
    info = event.message.media
    mime = (info.mime_type if info and info.mime_type else None) or downloaded.mime_type
    return MessageReceived(
        event.message,
        InboundMedia(
            data=downloaded.data,
            mime_type=mime,
            file_name=info.file_name if info else None,
        ),
    )
