"""The simulator's controls as named actions on a network: what ``/v1/simulator/{id}/...``
does, callable with a plain JSON body, so the worker that runs a session can carry out a
control asked on another worker (the phone and its connection live in the owner's network).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from wagate.domain import InvalidRequest, MessageStatus
from wagate.transports.simulator.models import (
    SimulatorAccount,
    SimulatorCall,
    SimulatorDecryptStorm,
    SimulatorDisconnect,
    SimulatorGroupEvent,
    SimulatorInbound,
    SimulatorPair,
    SimulatorPresence,
    SimulatorReceipt,
    SimulatorSendFailures,
    SimulatorSlowNetwork,
    SimulatorUnknownEvent,
)
from wagate.transports.simulator.network import SimulatorNetwork

Action = Callable[[SimulatorNetwork, str, Any], Awaitable[dict[str, Any]]]


async def _scan(network: SimulatorNetwork, sid: str, _: None) -> dict[str, Any]:
    await network.scan(sid)
    return {"scanned": True, "session_id": sid}


async def _pair(network: SimulatorNetwork, sid: str, body: SimulatorPair) -> dict[str, Any]:
    await network.enter_pairing_code(sid, body.code)
    return {"paired": True, "session_id": sid}


async def _inbound(network: SimulatorNetwork, sid: str, body: SimulatorInbound) -> dict[str, Any]:
    return {"wa_message_id": await network.inbound(sid, body), "session_id": sid}


async def _presence(network: SimulatorNetwork, sid: str, body: SimulatorPresence) -> dict[str, Any]:
    await network.presence(sid, body)
    return {"session_id": sid}


async def _group_event(
    network: SimulatorNetwork, sid: str, body: SimulatorGroupEvent
) -> dict[str, Any]:
    return {"session_id": sid, "delivered": await network.group_event(sid, body)}


async def _call(network: SimulatorNetwork, sid: str, body: SimulatorCall) -> dict[str, Any]:
    return {"call_id": await network.call(sid, body), "session_id": sid}


async def _disconnect(
    network: SimulatorNetwork, sid: str, body: SimulatorDisconnect
) -> dict[str, Any]:
    await network.disconnect(sid, body.code)
    return {"session_id": sid, "code": body.code}


async def _fail_sends(
    network: SimulatorNetwork, sid: str, body: SimulatorSendFailures
) -> dict[str, Any]:
    network.fail_next_sends(
        sid, body.count, code=body.code, transient=body.transient, retry_after_s=body.retry_after_s
    )
    return {"session_id": sid, "failing_sends": body.count}


async def _decrypt(
    network: SimulatorNetwork, sid: str, body: SimulatorDecryptStorm
) -> dict[str, Any]:
    return {
        "session_id": sid,
        "delivered": await network.decrypt_storm(sid, body.count, body.from_),
    }


async def _stall(network: SimulatorNetwork, sid: str, _: None) -> dict[str, Any]:
    network.stall(sid)
    return {"session_id": sid, "stalled": True}


async def _slow(network: SimulatorNetwork, sid: str, body: SimulatorSlowNetwork) -> dict[str, Any]:
    network.slow_down(sid, body.latency_ms / 1000)
    return {"session_id": sid, "latency_ms": body.latency_ms}


async def _account(network: SimulatorNetwork, sid: str, body: SimulatorAccount) -> dict[str, Any]:
    known = network.declare_account(sid, body)
    return {"session_id": sid, **to_jsonable_python(known)}


async def _unknown(
    network: SimulatorNetwork, sid: str, body: SimulatorUnknownEvent
) -> dict[str, Any]:
    delivered = await network.unknown_event(sid, body.kind)
    return {"session_id": sid, "kind": body.kind, "delivered": delivered}


async def _receipt(network: SimulatorNetwork, sid: str, body: SimulatorReceipt) -> dict[str, Any]:
    delivered = await network.receipt(sid, body.wa_message_id, MessageStatus(body.status))
    return {"session_id": sid, "delivered": delivered}


async def _sent(network: SimulatorNetwork, sid: str, _: None) -> dict[str, Any]:
    return {"items": to_jsonable_python(network.sent(sid))}


async def _phone(network: SimulatorNetwork, sid: str, _: None) -> dict[str, Any]:
    return dict(to_jsonable_python(network.phone(sid)))


async def _activity(network: SimulatorNetwork, sid: str, _: None) -> dict[str, Any]:
    return {
        "presence": to_jsonable_python(network.presence_log(sid)),
        "subscribed": [
            {"chat_id": chat, "timestamp": when.isoformat()}
            for chat, when in network.subscriptions(sid)
        ],
        "read": to_jsonable_python(network.read_log(sid)),
    }


ACTIONS: dict[str, tuple[type[BaseModel] | None, Action]] = {
    "scan": (None, _scan),
    "pair": (SimulatorPair, _pair),
    "inbound": (SimulatorInbound, _inbound),
    "presence": (SimulatorPresence, _presence),
    "call": (SimulatorCall, _call),
    "group_event": (SimulatorGroupEvent, _group_event),
    "disconnect": (SimulatorDisconnect, _disconnect),
    "fail_sends": (SimulatorSendFailures, _fail_sends),
    "decrypt_storm": (SimulatorDecryptStorm, _decrypt),
    "stall": (None, _stall),
    "slow": (SimulatorSlowNetwork, _slow),
    "account": (SimulatorAccount, _account),
    "unknown_event": (SimulatorUnknownEvent, _unknown),
    "receipt": (SimulatorReceipt, _receipt),
    "sent": (None, _sent),
    "phone": (None, _phone),
    "activity": (None, _activity),
}


def body_json(body: BaseModel | None) -> dict[str, Any] | None:
    """A control's body as it crosses to another worker (aliases such as ``from`` kept)."""
    if body is None:
        return None
    return dict(body.model_dump(mode="json", by_alias=True, exclude_unset=True))


async def run_control(
    network: SimulatorNetwork, session_id: str, action: str, body: dict[str, Any] | None
) -> dict[str, Any]:
    try:
        model, run = ACTIONS[action]
    except KeyError:
        raise InvalidRequest(f"unknown simulator control {action!r}") from None
    parsed = model.model_validate(body or {}) if model is not None else None
    return await run(network, session_id, parsed)
