"""Rows as the contract's JSON shapes; used by the API and by event payloads alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from wagate.domain.urls import redact_credentials
from wagate.store.models import Message, Session

_CHANGES = {"edit", "revoke"}  # the types whose request names the message they change


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def message_json(message: Message | Mapping[str, Any]) -> dict[str, Any]:
    """A message as the contract shows it: from an ORM row, or from a row's column values
    (what the hot paths have in hand before anything is read back)."""
    get: Callable[[str], Any] = (
        message.__getitem__ if isinstance(message, Mapping) else partial(getattr, message)
    )
    error = None
    if get("error_code"):
        error = {"code": get("error_code"), "message": get("error_message") or ""}
    status = get("status")
    waiting = None
    if status in ("queued", "sending") and get("hold_reason"):
        waiting = {"reason": get("hold_reason"), "until": iso(get("next_attempt_at"))}
    return {
        "id": get("id"),
        "session_id": get("session_id"),
        "direction": get("direction"),
        "wa_message_id": get("wa_message_id"),
        "chat_id": get("chat_id"),
        "chat_type": get("chat_type"),
        "sender": get("sender"),
        "sender_phone": get("sender_phone"),
        "sender_lid": get("sender_lid"),
        "push_name": get("push_name"),
        "from_me": get("from_me"),
        "type": get("type"),
        "text": get("text"),
        "media": get("media"),
        "location": get("location"),
        "contacts": get("contacts"),
        "reaction": get("reaction"),
        "poll": _poll_of(message),
        "transcript": _optional(message, "transcript"),
        "reply_to": get("reply_to"),
        "timestamp": iso(get("timestamp")),
        "status": status,
        "error": error,
        "attempts": get("attempts"),
        "waiting": waiting,
        "next_attempt_at": iso(get("next_attempt_at")),
        "edited": get("edited_at") is not None,
        "edited_at": iso(get("edited_at")),
        "revoked": get("revoked_at") is not None,
        "revoked_at": iso(get("revoked_at")),
        "target_id": _target_of(message) if get("type") in _CHANGES else None,
        "sent_at": iso(get("sent_at")),
        "delivered_at": iso(get("delivered_at")),
        "read_at": iso(get("read_at")),
        "created_at": iso(get("created_at")),
    }


def _poll_of(message: Message | Mapping[str, Any]) -> dict[str, Any] | None:
    return message.get("poll") if isinstance(message, Mapping) else message.poll


def _optional(message: Message | Mapping[str, Any], name: str) -> Any:
    """A column that rows written before it existed (in hand as mappings) may lack."""
    return message.get(name) if isinstance(message, Mapping) else getattr(message, name)


def _target_of(message: Message | Mapping[str, Any]) -> str | None:
    request = message.get("request") if isinstance(message, Mapping) else message.request
    return (request or {}).get("target")


def session_json(session: Session, *, ingest_base: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": session.id,
        "name": session.name,
        "tenant_id": session.tenant_id,
        "transport": session.transport,
        "status": session.status,
        "status_reason": session.status_reason,
        "desired_state": session.desired_state,
        "phone": session.phone,
        "push_name": session.push_name,
        "priority": session.priority,
        "proxy_url": redact_credentials(session.proxy_url) if session.proxy_url else None,
        "connected_at": iso(session.connected_at),
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
    }
    if session.transport == "evolution":
        body["ingest_url"] = (
            f"{ingest_base}/v1/ingest/evolution/{session.name}?token={session.ingest_token}"
        )
    elif session.transport == "cloud":  # the callback URL to register in Meta's app dashboard
        body["ingest_url"] = f"{ingest_base}/v1/ingest/cloud"
    return body
