"""Controls of the built-in simulator network (sessions with transport ``simulator`` only)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel

from wagate.api.deps import PrincipalDep, RemoteDep, ServicesDep
from wagate.api.routes.sessions import load_session_row
from wagate.domain import InvalidRequest, UnsupportedByTransport
from wagate.sessions.remote import RemoteCalls
from wagate.store.models import Session
from wagate.store.repositories import sessions
from wagate.transports.simulator import (
    PhoneInfo,
    PresenceRecord,
    ReadRecord,
    SentRecord,
    SimulatorCall,
    SimulatorDecryptStorm,
    SimulatorDisconnect,
    SimulatorGroupEvent,
    SimulatorInbound,
    SimulatorNetwork,
    SimulatorOutage,
    SimulatorPair,
    SimulatorPresence,
    SimulatorReceipt,
    SimulatorSendFailures,
    SimulatorSlowNetwork,
    SimulatorUnknownEvent,
)
from wagate.transports.simulator.controls import body_json, run_control
from wagate.transports.simulator.models import SimulatorAccount

router = APIRouter(prefix="/v1/simulator", tags=["simulator"])


class SimulatorAck(BaseModel):
    """What a simulator control did; each route sets the fields that concern it."""

    session_id: str | None = None
    scanned: bool | None = None
    paired: bool | None = None
    wa_message_id: str | None = None
    call_id: str | None = None
    code: int | None = None
    dropped: int | None = None
    failing_sends: int | None = None
    delivered: int | bool | None = None
    stalled: bool | None = None
    latency_ms: int | None = None
    kind: str | None = None


class SentList(BaseModel):
    items: list[SentRecord]


class SubscribedChat(BaseModel):
    chat_id: str
    timestamp: str


class Activity(BaseModel):
    presence: list[PresenceRecord]
    subscribed: list[SubscribedChat]
    read: list[ReadRecord]


async def simulated_session(
    services: Any, session_id: str, principal: Any
) -> tuple[Session, SimulatorNetwork]:
    session = await load_session_row(services.db, session_id, principal)
    if session.transport != "simulator":
        raise UnsupportedByTransport("simulator controls work only on simulator sessions")
    network: SimulatorNetwork | None = services.simulator
    if network is None:
        raise InvalidRequest("the simulator is not enabled", code="simulator_disabled")
    return session, network


async def control(
    services: Any,
    remote: RemoteCalls,
    session_id: str,
    principal: Any,
    action: str,
    body: BaseModel | None = None,
) -> dict[str, Any]:
    """Carry out a control on the simulated network of the worker that runs the session
    (this one, or its owner through :class:`RemoteCalls`): the phone and its connection
    live there."""
    session, network = await simulated_session(services, session_id, principal)
    payload = body_json(body)
    if await remote.runs_elsewhere(session.id):
        return await remote.call(session.id, "simulator", {"action": action, "body": payload})
    return await run_control(network, session.id, action, payload)


@router.post(
    "/outage",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def outage(
    body: SimulatorOutage, services: ServicesDep, remote: RemoteDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Fault injection: the network drops every connected simulator session at the same
    moment with ``code`` (the admin key: all sessions; a tenant's key: its own). Sessions
    run by other workers are dropped by them, at about the same moment."""
    network: SimulatorNetwork | None = services.simulator
    if network is None:
        raise InvalidRequest("the simulator is not enabled", code="simulator_disabled")
    async with services.db.read() as tx:
        rows = await sessions.list_sessions(tx, principal.tenant_id)
    simulated = [row.id for row in rows if row.transport == "simulator"]
    elsewhere = [sid for sid in simulated if await remote.runs_elsewhere(sid)]
    scope = None if principal.is_admin else [row.id for row in rows]
    here = network.outage(body.code, scope)
    asked = [
        remote.call(sid, "simulator", {"action": "disconnect", "body": {"code": body.code}})
        for sid in elsewhere
    ]
    dropped, *answers = await asyncio.gather(here, *asked, return_exceptions=True)
    if isinstance(dropped, BaseException):
        raise dropped
    remote_drops = sum(1 for answer in answers if not isinstance(answer, BaseException))
    return {"code": body.code, "dropped": len(dropped) + remote_drops}


@router.post(
    "/{session_id}/scan",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def scan(
    session_id: str, services: ServicesDep, remote: RemoteDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The virtual phone scans the session's current QR code; the session connects."""
    return await control(services, remote, session_id, principal, "scan")


@router.post(
    "/{session_id}/pair",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def pair(
    session_id: str,
    body: SimulatorPair,
    services: ServicesDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """The virtual phone's owner types a pairing code; the session connects if it is right."""
    return await control(services, remote, session_id, principal, "pair", body)


@router.post(
    "/{session_id}/inbound",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def inbound(
    session_id: str,
    body: SimulatorInbound,
    services: ServicesDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """A contact (or, with ``from_me``, the phone's owner) sends a message to the session."""
    return await control(services, remote, session_id, principal, "inbound", body)


@router.post(
    "/{session_id}/presence",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def presence(
    session_id: str,
    body: SimulatorPresence,
    services: ServicesDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """A contact starts or stops typing or recording."""
    return await control(services, remote, session_id, principal, "presence", body)


@router.post(
    "/{session_id}/call",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def call(
    session_id: str,
    body: SimulatorCall,
    services: ServicesDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    return await control(services, remote, session_id, principal, "call", body)


@router.post(
    "/{session_id}/disconnect",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def disconnect(
    session_id: str,
    body: SimulatorDisconnect,
    services: ServicesDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """The network drops the connection with a WhatsApp close code (e.g. 428, 401, 515)."""
    return await control(services, remote, session_id, principal, "disconnect", body)


@router.post(
    "/{session_id}/faults/send",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def fail_sends(
    session_id: str,
    body: SimulatorSendFailures,
    services: ServicesDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Fault injection: the session's next ``count`` sends fail (transient ones are retried)."""
    return await control(services, remote, session_id, principal, "fail_sends", body)


@router.post(
    "/{session_id}/faults/decrypt",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def decrypt_storm(
    session_id: str,
    body: SimulatorDecryptStorm,
    services: ServicesDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Fault injection: ``count`` messages arrive that cannot be decrypted (Bad MAC)."""
    return await control(services, remote, session_id, principal, "decrypt_storm", body)


@router.post(
    "/{session_id}/faults/stall",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def stall(
    session_id: str, services: ServicesDep, remote: RemoteDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Fault injection: the connection stays open but stops answering (keepalives hang)."""
    return await control(services, remote, session_id, principal, "stall")


class AccountOut(BaseModel):
    session_id: str
    phone: str
    on_whatsapp: bool
    jid: str | None


@router.post(
    "/{session_id}/group-event",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def group_event(
    session_id: str,
    body: SimulatorGroupEvent,
    services: ServicesDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Someone else changes a group the phone is in: people join (the phone itself, to be
    added to a group), leave, are promoted or demoted. The session hears of it as a
    ``group.participants`` event; ``delivered`` is false while it is offline."""
    return await control(services, remote, session_id, principal, "group_event", body)


@router.post(
    "/{session_id}/accounts", status_code=status.HTTP_201_CREATED, response_model=AccountOut
)
async def declare_account(
    session_id: str,
    body: SimulatorAccount,
    services: ServicesDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """How the simulated network knows a number from now on, for this session's number
    checks: on WhatsApp at another JID than the number's own (an older Brazilian account
    at its 8-digit number), or not on WhatsApp at all. A send checks the number first and
    goes to that JID, or fails with ``not_on_whatsapp``."""
    return await control(services, remote, session_id, principal, "account", body)


@router.post(
    "/{session_id}/faults/slow",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def slow_network(
    session_id: str,
    body: SimulatorSlowNetwork,
    services: ServicesDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Fault injection: every round trip (send, keepalive, presence, read receipts) takes
    ``latency_ms`` longer, across reconnects, until set back to 0."""
    return await control(services, remote, session_id, principal, "slow", body)


@router.post(
    "/{session_id}/faults/unknown-event",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def unknown_event(
    session_id: str,
    body: SimulatorUnknownEvent,
    services: ServicesDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Fault injection: an event type wagate does not know reaches the session (counted by
    the protocol monitor in the session's health)."""
    return await control(services, remote, session_id, principal, "unknown_event", body)


@router.post(
    "/{session_id}/receipt",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def receipt(
    session_id: str,
    body: SimulatorReceipt,
    services: ServicesDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """The recipient of a message the session sent reports ``delivered``, ``read`` or
    ``played`` now (besides the receipts the network sends after its own delays)."""
    return await control(services, remote, session_id, principal, "receipt", body)


@router.get("/{session_id}/sent", response_model=SentList)
async def sent(
    session_id: str, services: ServicesDep, remote: RemoteDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Every distinct message that reached the simulated network, in order of arrival."""
    return await control(services, remote, session_id, principal, "sent")


@router.get("/{session_id}/phone", response_model=PhoneInfo)
async def phone(
    session_id: str, services: ServicesDep, remote: RemoteDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The virtual phone: its number, owner name and contacts who can write."""
    return await control(services, remote, session_id, principal, "phone")


@router.get("/{session_id}/activity", response_model=Activity)
async def activity(
    session_id: str, services: ServicesDep, remote: RemoteDep, principal: PrincipalDep
) -> dict[str, Any]:
    """What the gateway showed the contacts: typing/recording presence and read receipts."""
    return await control(services, remote, session_id, principal, "activity")
