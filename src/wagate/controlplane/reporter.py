"""What the control plane hears back, from wagate's event log (a follower: durable, in
order, one worker at a time; see :mod:`wagate.events.follower`):

- ``session.qr``: ``POST /update-status {"status": "CONNECTING", "qr_code": <data URL>}``;
  ``session.status`` connected: ``CONNECTED``; stopped, reconnecting, logged out or
  failed: ``DISCONNECTED`` (``qr_code`` null);
- a control-plane message sent: ``POST /mark-sent`` with its WhatsApp id; failed for
  good: ``POST /mark-failed`` with wagate's error code;
- a message received: its sender resolved (``POST /contacts/resolve``), its file
  uploaded (``POST /upload-media``, base64) and the message posted to ``POST /inbound``
  with the fields wa-worker sends.

A control plane that is away is tried again, the same event, with backoff; nothing
after it moves. A call it refuses (4xx) is dead-lettered (``source`` ``control_plane``).
"""

from __future__ import annotations

import base64
from typing import Any

from wagate.controlplane.client import ControlPlaneClient
from wagate.controlplane.locks import InstanceLocks
from wagate.controlplane.queue import KEY
from wagate.domain.qr import qr_data_url
from wagate.events.evolution import unix
from wagate.store import Database
from wagate.store.media import MediaStore
from wagate.store.models import Event
from wagate.store.repositories import messages, sessions

TYPES = ["session.qr", "session.status", "message.sent", "message.status", "message.received"]
MEDIA_TYPES = {
    "image": "image",
    "sticker": "image",
    "video": "video",
    "audio": "audio",
    "voice": "audio",
    "document": "document",
}


class Reporter:
    def __init__(
        self,
        *,
        client: ControlPlaneClient,
        db: Database,
        media: MediaStore,
        locks: InstanceLocks,
    ) -> None:
        self.client = client
        self.db = db
        self.media = media
        self.locks = locks

    async def handle(self, row: Event) -> None:
        if row.session_id is None:
            return
        instance = await self.locks.instance_of(row.session_id)
        if instance is None:
            return
        data: dict[str, Any] = row.data
        match row.type:
            case "session.qr":
                qr = data.get("qr")
                await self.client.update_status(
                    instance, "CONNECTING", qr_data_url(str(qr)) if qr else None
                )
            case "session.status":
                status = data.get("status")
                if status == "connected":
                    await self.client.update_status(instance, "CONNECTED", None)
                elif status not in ("qr", "starting"):
                    await self.client.update_status(instance, "DISCONNECTED", None)
            case "message.sent":
                queued_id = await self._queued_id(str(data.get("id")))
                if queued_id is not None:
                    await self.client.mark_sent(queued_id, instance, data.get("wa_message_id"))
            case "message.status" if data.get("status") == "failed":
                queued_id = await self._queued_id(str(data.get("message_id")))
                if queued_id is not None:
                    error = data.get("error") or {}
                    await self.client.mark_failed(
                        queued_id,
                        instance,
                        str(error.get("code")),
                        {"message": error.get("message")},
                    )
            case "message.received" if not data.get("from_me"):
                await self._inbound(row.session_id, instance, data)

    async def _queued_id(self, message_id: str) -> str | None:
        """The control plane's id of a wagate message it queued (None: not one of its)."""
        async with self.db.read() as tx:
            key = await messages.idempotency_key_of(tx, message_id)
        return key[len(KEY) :] if key and key.startswith(KEY) else None

    async def _inbound(self, session_id: str, instance: str, data: dict[str, Any]) -> None:
        if data.get("chat_type") == "status":
            return
        media_type = MEDIA_TYPES.get(str(data.get("type")))
        body = data.get("text") or ""
        if not body and media_type is None:
            return  # nothing to post, as wa-worker does
        group = data.get("chat_type") == "group"
        sender = str(data.get("sender") or data.get("chat_id"))
        async with self.db.read() as tx:
            own = (await sessions.get_session(tx, session_id, None)).phone
        payload: dict[str, Any] = {
            "instanceId": instance,
            "from": sender if group else data.get("chat_id"),
            "to": f"{own}@s.whatsapp.net" if own else None,
            "body": body,
            "chat_id": data.get("chat_id"),
            "chat_type": "group" if group else "direct",
            "sender_jid_raw": sender,
            "push_name": data.get("push_name"),
            "wa_message_id": data.get("wa_message_id"),
            "timestamp": unix(data.get("timestamp")),
        }
        jid_type = "lid" if sender.endswith("@lid") else "pn"
        contact = await self.client.resolve_contact(
            instance, sender, jid_type, data.get("push_name")
        )
        if contact is not None:
            payload["sender_contact_id"] = contact
        if media_type is not None:
            media = await self._media(session_id, instance, data)
            if media is None and not body:
                return
            if media is not None:
                payload.update(media, media_type=media_type)
        await self.client.inbound(payload)

    async def _media(
        self, session_id: str, instance: str, data: dict[str, Any]
    ) -> dict[str, Any] | None:
        media = data.get("media") or {}
        content = await self.media.read_attached(session_id, media)
        if content is None:
            return None
        mime = str(media.get("mime_type") or "application/octet-stream")
        name = (
            media.get("file_name")
            or f"{data.get('wa_message_id')}.{mime.split('/')[-1].split(';')[0]}"
        )
        url = await self.client.upload_media(
            instance,
            str(data.get("wa_message_id")),
            mime,
            str(name),
            base64.b64encode(content).decode(),
        )
        return {"media_url": url, "mime_type": mime, "file_name": name, "file_size": len(content)}
