"""Evolution API v2 under ``/evolution``: existing Evolution clients keep working against
wagate's own sessions, queue and guarantees. An instance is a session of the caller's
tenant, by name; the ``apikey`` header carries a wagate key.

Covered so far: instances (create, fetch, connect with QR or pairing code, connection
state, logout, delete), ``sendText``, ``sendMedia`` and ``chat/whatsappNumbers``. Errors
come in Evolution's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from wagate.api.deps import (
    AcceptorDep,
    DatabaseDep,
    OutboxDep,
    RemoteDep,
    ServicesDep,
    principal_for,
)
from wagate.api.evolution import shapes
from wagate.api.principal import Principal
from wagate.api.routes.sessions import load_session_row, qr_data_url
from wagate.domain import (
    AuthError,
    Forbidden,
    InvalidRequest,
    MessageType,
    NotFound,
    NotRunning,
    OutboundMedia,
    OutboundMessageRequest,
    SessionStatus,
    WagateError,
    normalize_phone,
)
from wagate.store.models import Session
from wagate.store.repositories import sessions, tenants
from wagate.store.serialize import session_json

if TYPE_CHECKING:
    from wagate.app import Services

NAME = r"^[A-Za-z0-9_.-]{1,64}$"


class EvolutionRoute(APIRoute):
    """Answers every error of these routes in Evolution's shape (clients parse it)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await handle(request)
            except WagateError as exc:
                return JSONResponse(
                    shapes.error_body(exc.status_code, [exc.message]), status_code=exc.status_code
                )
            except RequestValidationError as exc:
                messages = [f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors()]
                return JSONResponse(shapes.error_body(400, messages), status_code=400)

        return handler


router = APIRouter(prefix="/evolution", tags=["evolution"], route_class=EvolutionRoute)


async def evolution_caller(
    request: Request, apikey: Annotated[str | None, Header()] = None
) -> Principal:
    """The ``apikey`` header (a wagate key: the admin key or a tenant's); a bearer token
    works too."""
    services: Services = request.app.state.services
    credential = apikey
    if not credential:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        credential = token.strip() if scheme.lower() == "bearer" else None
    if not credential:
        raise AuthError("Unauthorized")
    caller = await principal_for(services, credential)
    if request.method not in ("GET", "HEAD", "OPTIONS") and not caller.can_write:
        raise Forbidden("a viewer may read but not change anything")
    return caller


CallerDep = Annotated[Principal, Depends(evolution_caller)]


async def _instance(db: DatabaseDep, name: str, caller: Principal) -> Session:
    try:
        return await load_session_row(db, name, caller)
    except NotFound:
        raise NotFound(f'The "{name}" instance does not exist') from None


class InstanceCreate(BaseModel):
    model_config = ConfigDict(extra="allow")  # Evolution's many options; the rest is kept out

    instanceName: str = Field(pattern=NAME)
    qrcode: bool = False
    number: str | None = None
    integration: str | None = None


@router.post("/instance/create", status_code=status.HTTP_201_CREATED)
async def create_instance(
    body: InstanceCreate, services: ServicesDep, caller: CallerDep, db: DatabaseDep
) -> dict[str, Any]:
    """A new instance: a session of the caller's tenant (on the server's default
    transport), connecting at once."""
    if body.integration not in (None, shapes.INTEGRATION):
        raise InvalidRequest(f"integration {body.integration!r} is not offered here")
    tenant_id = caller.tenant_id
    if tenant_id is None:
        async with services.db.transaction() as tx:
            tenant = await tenants.ensure_tenant(tx, tenants.DEFAULT_TENANT, services.clock.now())
            tenant_id = tenant.id
    row = await services.manager.create(
        tenant_id=tenant_id,
        name=body.instanceName,
        transport="simulator",
        config=services.validate_transport_config("simulator", {}),
        proxy_url=None,
        priority=0,
        start=True,
        settings={},
        default_quota=services.settings.tenant_max_sessions,
    )
    session = {"id": row.id, "name": row.name, "desired_state": row.desired_state}
    return shapes.created_instance(
        session, shapes.qrcode(None, None, None, 0) if body.qrcode else None
    )


@router.get("/instance/connect/{instance}")
async def connect_instance(
    instance: str,
    services: ServicesDep,
    remote: RemoteDep,
    caller: CallerDep,
    db: DatabaseDep,
    number: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, Any]:
    """Start the instance if it is stopped; its QR code (or, with ``number``, a pairing
    code) while it waits for a login; its state once it is open."""
    row = await _instance(db, instance, caller)
    if row.status == SessionStatus.CONNECTED.value:
        return shapes.instance_state(row.name, row.status)
    if row.desired_state != "running":
        await services.manager.start(row.id)
    pairing = None
    if number:
        digits = normalize_phone(number)
        try:
            answer = await remote.call(
                row.id, "pairing_code", {"phone": digits}, when_nobody_runs=NotRunning
            )
            pairing = str(answer["code"])
        except WagateError as exc:
            if exc.status_code >= 500:
                raise
    now = services.clock.now()
    qr = row.qr if row.qr_expires_at is not None and row.qr_expires_at > now else None
    image = qr_data_url(qr) if qr else None
    return shapes.qrcode(qr, image, pairing, 1 if qr or pairing else 0)


@router.get("/instance/connectionState/{instance}")
async def connection_state(instance: str, caller: CallerDep, db: DatabaseDep) -> dict[str, Any]:
    row = await _instance(db, instance, caller)
    return shapes.instance_state(row.name, row.status)


@router.delete("/instance/logout/{instance}")
async def logout_instance(
    instance: str, remote: RemoteDep, caller: CallerDep, db: DatabaseDep
) -> dict[str, Any]:
    """Unlink the device; the instance stays, to be connected again."""
    row = await _instance(db, instance, caller)
    await remote.logout(row.id)
    return {"status": "SUCCESS", "error": False, "response": {"message": "Instance logged out"}}


@router.get("/instance/fetchInstances")
async def fetch_instances(
    services: ServicesDep,
    caller: CallerDep,
    instanceName: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    """The caller's instances (one, with ``instanceName``)."""
    async with services.db.read() as tx:
        rows = await sessions.list_sessions(tx, caller.tenant_id)
    return [
        shapes.instance_row(session_json(row))
        for row in rows
        if instanceName is None or row.name == instanceName
    ]


@router.delete("/instance/delete/{instance}")
async def delete_instance(
    instance: str, remote: RemoteDep, caller: CallerDep, db: DatabaseDep
) -> dict[str, Any]:
    """Log out and delete the instance, with its messages and media."""
    row = await _instance(db, instance, caller)
    await remote.delete(row.id)
    return {"status": "SUCCESS", "error": False, "response": {"message": "Instance deleted"}}


class Quoted(BaseModel):
    model_config = ConfigDict(extra="allow")

    key: dict[str, Any] = Field(default_factory=dict)


class EvolutionSend(BaseModel):
    """What every Evolution send carries: the recipient, ``delay`` and ``quoted``."""

    model_config = ConfigDict(extra="allow")

    number: str = Field(min_length=1, max_length=128)
    delay: int | None = Field(default=None, ge=0, le=3_600_000, description="ms of typing")
    quoted: Quoted | None = None

    def reply_to(self) -> str | None:
        quoted_id = self.quoted.key.get("id") if self.quoted else None
        return str(quoted_id) if quoted_id else None

    def humanize(self) -> bool | None:
        """``delay`` above 0 shows typing first (wagate's own pacing), 0 sends at once."""
        return None if self.delay is None else self.delay > 0


class SendText(EvolutionSend):
    text: str = Field(min_length=1, max_length=65536)
    linkPreview: bool | None = None


async def _queue(
    acceptor: AcceptorDep,
    outbox: OutboxDep,
    row: Session,
    request: OutboundMessageRequest,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """Accepted as ``POST /v1/sessions/{id}/messages`` accepts a send; the message."""
    accepted = await acceptor.accept(row, request, idempotency_key or None)
    if accepted.created:
        outbox.wake(row.id)
    return accepted.json


@router.post("/message/sendText/{instance}", status_code=status.HTTP_201_CREATED)
async def send_text(
    instance: str,
    body: SendText,
    acceptor: AcceptorDep,
    outbox: OutboxDep,
    caller: CallerDep,
    db: DatabaseDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> dict[str, Any]:
    """Queued like ``POST /v1/sessions/{id}/messages`` (guardrails, idempotency with an
    ``Idempotency-Key``)."""
    row = await _instance(db, instance, caller)
    request = OutboundMessageRequest(
        to=body.number, text=body.text, reply_to=body.reply_to(), humanize=body.humanize()
    )
    message = await _queue(acceptor, outbox, row, request, idempotency_key)
    return shapes.sent_message(message, row.id)


class SendMedia(EvolutionSend):
    mediatype: Literal["image", "video", "document", "audio"]
    media: str = Field(min_length=1, description="a URL, or the file in base64")
    mimetype: str | None = Field(default=None, max_length=255)
    caption: str | None = Field(default=None, max_length=65536)
    fileName: str | None = Field(default=None, max_length=255)


@router.post("/message/sendMedia/{instance}", status_code=status.HTTP_201_CREATED)
async def send_media(
    instance: str,
    body: SendMedia,
    acceptor: AcceptorDep,
    outbox: OutboxDep,
    caller: CallerDep,
    db: DatabaseDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> dict[str, Any]:
    """An image, video, document or audio file, by URL or in base64, queued like a send."""
    row = await _instance(db, instance, caller)
    by_url = body.media.startswith(("http://", "https://"))
    request = OutboundMessageRequest(
        to=body.number,
        type=MessageType(body.mediatype),
        media=OutboundMedia(
            url=body.media if by_url else None,
            base64=None if by_url else body.media,
            mime_type=body.mimetype,
            file_name=body.fileName,
            caption=body.caption,
        ),
        reply_to=body.reply_to(),
        humanize=body.humanize(),
    )
    message = await _queue(acceptor, outbox, row, request, idempotency_key)
    return shapes.sent_media(message, row.id, body.mediatype)


class NumbersBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    numbers: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=100
    )


@router.post("/chat/whatsappNumbers/{instance}")
async def whatsapp_numbers(
    instance: str, body: NumbersBody, remote: RemoteDep, caller: CallerDep, db: DatabaseDep
) -> list[dict[str, Any]]:
    """Which numbers have a WhatsApp account, and at which JID (asked of WhatsApp)."""
    row = await _instance(db, instance, caller)
    digits = [normalize_phone(n) for n in body.numbers]
    found = await remote.call(row.id, "check_numbers", {"phones": digits})
    return shapes.whatsapp_numbers(list(found["items"]))
