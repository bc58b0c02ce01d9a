"""Controls of the built-in simulator network (sessions with transport ``simulator`` only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel

from wagate.api.deps import PrincipalDep, ServicesDep
from wagate.api.routes.sessions import load_session_row
from wagate.domain import InvalidRequest, MessageStatus, UnsupportedByTransport
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


@router.post(
    "/outage",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def outage(
    body: SimulatorOutage, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Fault injection: the network drops every connected simulator session at the same
    moment with ``code`` (the admin key: all sessions; a tenant's key: its own)."""
    network: SimulatorNetwork | None = services.simulator
    if network is None:
        raise InvalidRequest("the simulator is not enabled", code="simulator_disabled")
    scope = None
    if not principal.is_admin:
        async with services.db.read() as tx:
            scope = [row.id for row in await sessions.list_sessions(tx, principal.tenant_id)]
    dropped = await network.outage(body.code, scope)
    return {"code": body.code, "dropped": len(dropped)}


@router.post(
    "/{session_id}/scan",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def scan(session_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """The virtual phone scans the session's current QR code; the session connects."""
    session, network = await simulated_session(services, session_id, principal)
    await network.scan(session.id)
    return {"scanned": True, "session_id": session.id}


@router.post(
    "/{session_id}/pair",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def pair(
    session_id: str, body: SimulatorPair, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The virtual phone's owner types a pairing code; the session connects if it is right."""
    session, network = await simulated_session(services, session_id, principal)
    await network.enter_pairing_code(session.id, body.code)
    return {"paired": True, "session_id": session.id}


@router.post(
    "/{session_id}/inbound",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def inbound(
    session_id: str, body: SimulatorInbound, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A contact (or, with ``from_me``, the phone's owner) sends a message to the session."""
    session, network = await simulated_session(services, session_id, principal)
    wa_message_id = await network.inbound(session.id, body)
    return {"wa_message_id": wa_message_id, "session_id": session.id}


@router.post(
    "/{session_id}/presence",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def presence(
    session_id: str, body: SimulatorPresence, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A contact starts or stops typing or recording."""
    session, network = await simulated_session(services, session_id, principal)
    await network.presence(session.id, body)
    return {"session_id": session.id}


@router.post(
    "/{session_id}/call",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def call(
    session_id: str, body: SimulatorCall, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    session, network = await simulated_session(services, session_id, principal)
    return {"call_id": await network.call(session.id, body), "session_id": session.id}


@router.post(
    "/{session_id}/disconnect",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def disconnect(
    session_id: str, body: SimulatorDisconnect, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The network drops the connection with a WhatsApp close code (e.g. 428, 401, 515)."""
    session, network = await simulated_session(services, session_id, principal)
    await network.disconnect(session.id, body.code)
    return {"session_id": session.id, "code": body.code}


@router.post(
    "/{session_id}/faults/send",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def fail_sends(
    session_id: str, body: SimulatorSendFailures, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Fault injection: the session's next ``count`` sends fail (transient ones are retried)."""
    session, network = await simulated_session(services, session_id, principal)
    network.fail_next_sends(
        session.id,
        body.count,
        code=body.code,
        transient=body.transient,
        retry_after_s=body.retry_after_s,
    )
    return {"session_id": session.id, "failing_sends": body.count}


@router.post(
    "/{session_id}/faults/decrypt",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def decrypt_storm(
    session_id: str, body: SimulatorDecryptStorm, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Fault injection: ``count`` messages arrive that cannot be decrypted (Bad MAC)."""
    session, network = await simulated_session(services, session_id, principal)
    reached = await network.decrypt_storm(session.id, body.count, body.from_)
    return {"session_id": session.id, "delivered": reached}


@router.post(
    "/{session_id}/faults/stall",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def stall(session_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Fault injection: the connection stays open but stops answering (keepalives hang)."""
    session, network = await simulated_session(services, session_id, principal)
    network.stall(session.id)
    return {"session_id": session.id, "stalled": True}


@router.post(
    "/{session_id}/faults/slow",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def slow_network(
    session_id: str, body: SimulatorSlowNetwork, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Fault injection: every round trip (send, keepalive, presence, read receipts) takes
    ``latency_ms`` longer, across reconnects, until set back to 0."""
    session, network = await simulated_session(services, session_id, principal)
    network.slow_down(session.id, body.latency_ms / 1000)
    return {"session_id": session.id, "latency_ms": body.latency_ms}


@router.post(
    "/{session_id}/faults/unknown-event",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def unknown_event(
    session_id: str, body: SimulatorUnknownEvent, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Fault injection: an event type wagate does not know reaches the session (counted by
    the protocol monitor in the session's health)."""
    session, network = await simulated_session(services, session_id, principal)
    delivered = await network.unknown_event(session.id, body.kind)
    return {"session_id": session.id, "kind": body.kind, "delivered": delivered}


@router.post(
    "/{session_id}/receipt",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SimulatorAck,
    response_model_exclude_unset=True,
)
async def receipt(
    session_id: str, body: SimulatorReceipt, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The recipient of a message the session sent reports ``delivered``, ``read`` or
    ``played`` now (besides the receipts the network sends after its own delays)."""
    session, network = await simulated_session(services, session_id, principal)
    delivered = await network.receipt(session.id, body.wa_message_id, MessageStatus(body.status))
    return {"session_id": session.id, "delivered": delivered}


@router.get("/{session_id}/sent", response_model=SentList)
async def sent(session_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Every distinct message that reached the simulated network, in order of arrival."""
    session, network = await simulated_session(services, session_id, principal)
    return {"items": jsonable_encoder(network.sent(session.id))}


@router.get("/{session_id}/phone", response_model=PhoneInfo)
async def phone(session_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """The virtual phone: its number, owner name and contacts who can write."""
    session, network = await simulated_session(services, session_id, principal)
    return dict(jsonable_encoder(network.phone(session.id)))


@router.get("/{session_id}/activity", response_model=Activity)
async def activity(
    session_id: str, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """What the gateway showed the contacts: typing/recording presence and read receipts."""
    session, network = await simulated_session(services, session_id, principal)
    return {
        "presence": jsonable_encoder(network.presence_log(session.id)),
        "subscribed": [
            {"chat_id": chat, "timestamp": when.isoformat()}
            for chat, when in network.subscriptions(session.id)
        ],
        "read": jsonable_encoder(network.read_log(session.id)),
    }
