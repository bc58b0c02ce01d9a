"""wagate's sessions and messages in Evolution API v2's JSON shapes, and Evolution's error
body. Pure functions: the surface's routes call them."""

from __future__ import annotations

from typing import Any

from wagate.events.evolution import message_data, state_of

INTEGRATION = "WHATSAPP-BAILEYS"  # what Evolution calls a linked-device instance

_ERRORS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Bad Request",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def error_body(status: int, messages: list[Any]) -> dict[str, Any]:
    """Evolution's error envelope: ``{"status", "error", "response": {"message": [...]}}``."""
    return {
        "status": status,
        "error": _ERRORS.get(status, "Error"),
        "response": {"message": messages},
    }


def instance_state(name: str, status: str) -> dict[str, Any]:
    return {"instance": {"instanceName": name, "state": state_of(status)}}


def created_instance(
    session: dict[str, Any], token: str, qrcode: dict[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "instance": {
            "instanceName": session["name"],
            "instanceId": session["id"],
            "integration": INTEGRATION,
            "webhookWaBusiness": None,
            "accessTokenWaBusiness": "",
            "status": "connecting" if session["desired_state"] == "running" else "created",
        },
        "hash": token,  # the instance's own apikey
        "webhook": {},
        "websocket": {},
        "rabbitmq": {},
        "sqs": {},
        "settings": {
            "rejectCall": False,
            "msgCall": "",
            "groupsIgnore": False,
            "alwaysOnline": False,
            "readMessages": False,
            "readStatus": False,
            "syncFullHistory": False,
        },
    }
    if qrcode is not None:
        body["qrcode"] = qrcode
    return body


def qrcode(code: str | None, image: str | None, pairing: str | None, count: int) -> dict[str, Any]:
    """What ``/instance/connect`` answers while the instance waits for a login."""
    return {"pairingCode": pairing, "code": code, "base64": image, "count": count}


def sent_message(message: dict[str, Any], instance_id: str) -> dict[str, Any]:
    """A queued message as Evolution answers a send: ``key`` (``id`` is the WhatsApp id
    when the transport fixes it before sending, else wagate's message id), ``message``
    and ``status: "PENDING"``."""
    return message_data(message, instance_id)


def instance_row(session: dict[str, Any], token: str | None) -> dict[str, Any]:
    """One instance as ``/instance/fetchInstances`` lists it."""
    phone = session.get("phone")
    return {
        "id": session["id"],
        "name": session["name"],
        "connectionStatus": state_of(session["status"]),
        "ownerJid": f"{phone}@s.whatsapp.net" if phone else None,
        "profileName": session.get("push_name"),
        "integration": INTEGRATION,
        "token": token,
        "createdAt": session.get("created_at"),
        "updatedAt": session.get("updated_at"),
    }


def whatsapp_numbers(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``/chat/whatsappNumbers``: ``[{"exists", "jid", "number"}]``."""
    return [
        {
            "exists": bool(item.get("on_whatsapp")),
            "jid": item.get("jid") or f"{item['phone']}@s.whatsapp.net",
            "number": item["phone"],
        }
        for item in items
    ]
