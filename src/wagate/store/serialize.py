"""Rows as the contract's JSON shapes; used by the API and by event payloads alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wagate.store.models import Message, Session


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def message_json(message: Message) -> dict[str, Any]:
    error = None
    if message.error_code:
        error = {"code": message.error_code, "message": message.error_message or ""}
    return {
        "id": message.id,
        "session_id": message.session_id,
        "direction": message.direction,
        "wa_message_id": message.wa_message_id,
        "chat_id": message.chat_id,
        "chat_type": message.chat_type,
        "sender": message.sender,
        "sender_phone": message.sender_phone,
        "sender_lid": message.sender_lid,
        "push_name": message.push_name,
        "from_me": message.from_me,
        "type": message.type,
        "text": message.text,
        "media": message.media,
        "location": message.location,
        "contacts": message.contacts,
        "reaction": message.reaction,
        "reply_to": message.reply_to,
        "timestamp": iso(message.timestamp),
        "status": message.status,
        "error": error,
        "attempts": message.attempts,
        "waiting": _waiting(message),
        "next_attempt_at": iso(message.next_attempt_at),
        "edited_at": iso(message.edited_at),
        "revoked_at": iso(message.revoked_at),
        "sent_at": iso(message.sent_at),
        "delivered_at": iso(message.delivered_at),
        "read_at": iso(message.read_at),
        "created_at": iso(message.created_at),
    }


def _waiting(message: Message) -> dict[str, Any] | None:
    """Why an open message has not gone out yet (a guardrail or a retry), and until when."""
    if message.status not in ("queued", "sending") or not message.hold_reason:
        return None
    return {"reason": message.hold_reason, "until": iso(message.next_attempt_at)}


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
        "proxy_url": session.proxy_url,
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
