"""wa-worker's control-plane contract, from the worker's side (seed 002, "Endpoints
consumidos"), with the bodies the seed leaves open fixed here (docs/control-plane.md).

Every call carries ``Authorization: Bearer <WORKER_SECRET>``. The URL is the
operator's (``WAGATE_CONTROL_PLANE_URL``), so a private address is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from wagate.domain import WagateError
from wagate.events.follower import Unreachable
from wagate.events.remote_api import body_of, json_call

TIMEOUT_S = 15.0


class ControlPlaneUnavailable(Unreachable):
    """The control plane did not answer, or answered 5xx / 429."""

    code = "control_plane_unavailable"


class ControlPlaneRefused(WagateError):
    """The control plane answered 4xx: the same call will not work later."""

    status_code = 502
    code = "control_plane_refused"


class LockConflict(WagateError):
    """Another worker holds the instance's lock (``lock_conflict``)."""

    status_code = 409
    code = "lock_conflict"


@dataclass(frozen=True, slots=True)
class Instance:
    id: str
    priority: int


@dataclass(frozen=True, slots=True)
class Queued:
    """A message waiting in the control plane's queue."""

    id: str
    to: str
    body: str
    media_url: str | None = None
    media_type: str | None = None
    mime_type: str | None = None
    file_name: str | None = None


class ControlPlaneClient:
    def __init__(self, url: str, secret: str, *, http: httpx.AsyncClient | None = None) -> None:
        self.base = url.rstrip("/")
        self.http = http or httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False)
        self.headers = {"authorization": f"Bearer {secret}"}

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = await json_call(
            self.http,
            method,
            self.base + path,
            what="the control plane",
            unreachable=ControlPlaneUnavailable,
            refused=ControlPlaneRefused,
            headers=self.headers,
            **kwargs,
        )
        if answer.status_code == 409:
            raise LockConflict(answer.text[:300])
        return body_of(answer)

    # ------------------------------------------------------------------ instances

    async def max_active_instances(self) -> int | None:
        found = await self._call("GET", "/worker-settings")
        value = (found or {}).get("max_active_instances")
        return int(value) if value is not None else None

    async def eligible_instances(self, limit: int = 50) -> list[Instance]:
        params = {"enabled": "true", "limit": str(limit), "order": "priority.desc"}
        found = await self._call("GET", "/eligible-instances", params=params)
        return [
            Instance(str(item["id"]), int(item.get("priority") or 0))
            for item in (found or {}).get("instances") or []
        ]

    async def update_status(self, instance_id: str, status: str, qr_code: str | None) -> None:
        body = {"instanceId": instance_id, "status": status, "qr_code": qr_code}
        await self._call("POST", "/update-status", json=body)

    # ------------------------------------------------------------------ locks

    async def acquire(self, instance_id: str, worker_id: str, ttl_s: float) -> None:
        """Raises :class:`LockConflict` when another worker holds it."""
        await self._lock("acquire", instance_id, worker_id, ttl_s)

    async def renew(self, instance_id: str, worker_id: str, ttl_s: float) -> None:
        await self._lock("renew", instance_id, worker_id, ttl_s)

    async def release(self, instance_id: str, worker_id: str) -> None:
        await self._lock("release", instance_id, worker_id, None)

    async def _lock(
        self, action: str, instance_id: str, worker_id: str, ttl_s: float | None
    ) -> None:
        body: dict[str, Any] = {"instanceId": instance_id, "workerId": worker_id}
        if ttl_s is not None:
            body["ttl_ms"] = int(ttl_s * 1000)
        await self._call("POST", f"/instance-lock/{action}", json=body)

    # ------------------------------------------------------------------ outbound

    async def queued_messages(self, instance_id: str) -> list[Queued]:
        found = await self._call("GET", "/queued-messages", params={"instanceId": instance_id})
        items = found.get("messages") if isinstance(found, dict) else found
        return [
            Queued(
                id=str(item["id"]),
                to=str(item.get("to") or ""),
                body=str(item.get("body") or ""),
                media_url=item.get("media_url"),
                media_type=item.get("media_type"),
                mime_type=item.get("mime_type"),
                file_name=item.get("file_name"),
            )
            for item in items or []
        ]

    async def mark_sent(self, message_id: str, instance_id: str, wa_message_id: str | None) -> None:
        body = {"id": message_id, "instanceId": instance_id, "wa_message_id": wa_message_id}
        await self._call("POST", "/mark-sent", json=body)

    async def mark_failed(
        self, message_id: str, instance_id: str, error: str, debug: dict[str, Any] | None = None
    ) -> None:
        body: dict[str, Any] = {"id": message_id, "instanceId": instance_id, "error": error}
        if debug:
            body["send_debug"] = debug
        await self._call("POST", "/mark-failed", json=body)

    async def primary_jid(self, instance_id: str, lid: str) -> str | None:
        """The phone JID behind an ``@lid``, if the control plane knows it."""
        try:
            found = await self._call(
                "GET", "/contacts/primary-jid", params={"instanceId": instance_id, "jid": lid}
            )
        except ControlPlaneRefused:
            return None
        if not isinstance(found, dict):
            return None
        jid = found.get("jid_pn") or found.get("jid")
        return str(jid) if jid and not str(jid).endswith("@lid") else None

    # ------------------------------------------------------------------ inbound

    async def resolve_contact(
        self, instance_id: str, jid: str, jid_type: str, push_name: str | None
    ) -> str | None:
        body = {"instanceId": instance_id, "jid": jid, "jid_type": jid_type, "push_name": push_name}
        found = await self._call("POST", "/contacts/resolve", json=body)
        if not isinstance(found, dict):
            return None
        value = found.get("contact_id") or found.get("id")
        return str(value) if value else None

    async def upload_media(
        self, instance_id: str, message_id: str, mime_type: str, file_name: str, data: str
    ) -> str:
        body = {
            "instanceId": instance_id,
            "messageId": message_id,
            "mime_type": mime_type,
            "file_name": file_name,
            "bytes_base64": data,
        }
        found = await self._call("POST", "/upload-media", json=body)
        return str(found["media_url"])

    async def inbound(self, body: dict[str, Any]) -> None:
        await self._call("POST", "/inbound", json=body)
