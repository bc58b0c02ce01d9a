"""Evolution's instance routes: create, connect (QR or pairing code), state, logout,
fetch, delete."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from wagate.api.deps import DatabaseDep, KeyCacheDep, RemoteDep
from wagate.api.evolution import shapes
from wagate.api.evolution.base import (
    NAME,
    CallerDep,
    evolution_router,
    load_instance,
)
from wagate.api.evolution.webhook import WebhookOptions, check_webhook_url, set_instance_webhook
from wagate.api.principal import Principal
from wagate.config import Settings
from wagate.domain import (
    Clock,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotRunning,
    SessionStatus,
    WagateError,
    normalize_phone,
)
from wagate.domain.qr import qr_data_url
from wagate.events.dispatcher import WebhookDispatcher
from wagate.events.formatted import token_context
from wagate.events.subscriptions import Subscriptions
from wagate.sessions import SessionManager
from wagate.store import Database
from wagate.store.repositories import sessions, tenants
from wagate.store.serialize import session_json

router = evolution_router()


class InstanceCreate(BaseModel):
    model_config = ConfigDict(extra="allow")  # Evolution's many options; the rest is kept out

    instanceName: str = Field(pattern=NAME)
    qrcode: bool = False
    number: str | None = None
    integration: str | None = None
    webhook: WebhookOptions | None = None
    token: str | None = Field(
        default=None, min_length=8, max_length=200, description="the instance's own apikey"
    )


@dataclass(frozen=True, slots=True)
class Instances:
    """What the instance routes do with wagate's sessions, tokens and webhooks."""

    db: Database
    clock: Clock
    settings: Settings
    manager: SessionManager
    validate_config: Callable[[str, dict[str, Any]], dict[str, Any]]
    subscriptions: Subscriptions
    dispatcher: WebhookDispatcher

    async def create(self, body: InstanceCreate, caller: Principal) -> dict[str, Any]:
        transport = self.settings.evolution_transport
        _check_create(body, caller, self.settings)
        token = body.token or str(uuid.uuid4()).upper()  # Evolution's own form of token
        async with self.db.transaction() as tx:
            if await tenants.find_active_key(tx, token) is not None:
                raise Conflict("this token is already in use", code="token_in_use")
            tenant_id = caller.tenant_id
            if tenant_id is None:
                tenant = await tenants.ensure_tenant(tx, tenants.DEFAULT_TENANT, self.clock.now())
                tenant_id = tenant.id
        row = await self.manager.create(
            tenant_id=tenant_id,
            name=body.instanceName,
            transport=transport,
            config=self.validate_config(transport, {}),
            proxy_url=None,
            priority=0,
            start=body.webhook is None,
            settings={},
            default_quota=self.settings.tenant_max_sessions,
        )
        async with self.db.transaction() as tx:
            await tenants.create_instance_token(
                tx,
                tenant_id=tenant_id,
                session_id=row.id,
                token=token,
                sealed=self.subscriptions.box.seal(token, token_context(row.id)),
                name=f"evolution instance {row.name}",
                now=self.clock.now(),
            )
        if body.webhook is not None:
            await set_instance_webhook(
                row,
                body.webhook,
                db=self.db,
                subscriptions=self.subscriptions,
                dispatcher=self.dispatcher,
                settings=self.settings,
            )
            await self.manager.start(row.id)
        session = {"id": row.id, "name": row.name, "desired_state": "running"}
        qrcode = shapes.qrcode(None, None, None, 0) if body.qrcode else None
        return shapes.created_instance(session, token, qrcode)

    async def listed(self, caller: Principal, name: str | None) -> list[dict[str, Any]]:
        """The caller's instances (an instance token sees its own), with their tokens."""
        async with self.db.read() as tx:
            rows = [
                row
                for row in await sessions.list_sessions(tx, caller.tenant_id)
                if (name is None or row.name == name) and caller.session_id in (None, row.id)
            ]
            keys = await tenants.instance_tokens(tx, [row.id for row in rows])
        box = self.subscriptions.box
        return [
            shapes.instance_row(
                session_json(row),
                box.open(keys[row.id].sealed_key or "", token_context(row.id))
                if row.id in keys
                else None,
            )
            for row in rows
        ]


def _instances(request: Request) -> Instances:
    services = request.app.state.services
    return Instances(
        db=services.db,
        clock=services.clock,
        settings=services.settings,
        manager=services.manager,
        validate_config=services.validate_transport_config,
        subscriptions=services.subscriptions,
        dispatcher=services.webhooks,
    )


InstancesDep = Annotated[Instances, Depends(_instances)]


@router.post("/instance/create", status_code=status.HTTP_201_CREATED)
async def create_instance(
    body: InstanceCreate, instances: InstancesDep, caller: CallerDep
) -> dict[str, Any]:
    """A new instance: a session of the caller's tenant on ``WAGATE_EVOLUTION_TRANSPORT``,
    connecting at once; its webhook, when the body has one, is set before it starts (so
    the first QR code is posted to it)."""
    return await instances.create(body, caller)


def _check_create(body: InstanceCreate, caller: Principal, settings: Settings) -> None:
    """What Evolution and wagate refuse before anything is created."""
    if caller.session_id is not None:
        raise Forbidden("an instance token cannot create instances: use the global apikey")
    if body.integration not in (None, shapes.INTEGRATION):
        raise InvalidRequest(f"integration {body.integration!r} is not offered here")
    simulator = settings.evolution_transport == "simulator"
    if simulator and not caller.is_admin and not settings.tenant_simulator:
        raise Forbidden("the simulator is not available to tenant keys on this server")
    if body.webhook is not None:
        check_webhook_url(body.webhook.url)


@router.get("/instance/connect/{instance}")
async def connect_instance(
    instance: str,
    instances: InstancesDep,
    remote: RemoteDep,
    caller: CallerDep,
    db: DatabaseDep,
    number: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, Any]:
    """Start the instance if it is stopped; its QR code (or, with ``number``, a pairing
    code) while it waits for a login; its state once it is open."""
    row = await load_instance(db, instance, caller, fresh=True)
    if row.status == SessionStatus.CONNECTED.value:
        return shapes.instance_state(row.name, row.status)
    if row.desired_state != "running":
        await instances.manager.start(row.id)
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
    now = instances.clock.now()
    qr = row.qr if row.qr_expires_at is not None and row.qr_expires_at > now else None
    image = qr_data_url(qr) if qr else None
    return shapes.qrcode(qr, image, pairing, 1 if qr or pairing else 0)


@router.get("/instance/connectionState/{instance}")
async def connection_state(instance: str, caller: CallerDep, db: DatabaseDep) -> dict[str, Any]:
    row = await load_instance(db, instance, caller, fresh=True)
    return shapes.instance_state(row.name, row.status)


@router.delete("/instance/logout/{instance}")
async def logout_instance(
    instance: str, remote: RemoteDep, caller: CallerDep, db: DatabaseDep
) -> dict[str, Any]:
    """Unlink the device; the instance stays, to be connected again."""
    row = await load_instance(db, instance, caller)
    await remote.logout(row.id)
    return {"status": "SUCCESS", "error": False, "response": {"message": "Instance logged out"}}


@router.get("/instance/fetchInstances")
async def fetch_instances(
    instances: InstancesDep,
    caller: CallerDep,
    instanceName: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    """The caller's instances (one, with ``instanceName``; an instance token sees its
    own), each with its token, as Evolution lists them."""
    return await instances.listed(caller, instanceName)


@router.delete("/instance/delete/{instance}")
async def delete_instance(
    instance: str, remote: RemoteDep, caller: CallerDep, db: DatabaseDep, keys: KeyCacheDep
) -> dict[str, Any]:
    """Log out and delete the instance, with its messages, media and token."""
    row = await load_instance(db, instance, caller)
    await remote.delete(row.id)
    keys.clear()  # its token stops working on this worker now, elsewhere within the TTL
    return {"status": "SUCCESS", "error": False, "response": {"message": "Instance deleted"}}
