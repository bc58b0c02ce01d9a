"""Media in events as they leave wagate: signed links a receiver opens without a key, and,
for a webhook that asks for it, the file itself in base64 (what Evolution's users turn on
for n8n: the workflow gets the voice note in the webhook, no second request)."""

from __future__ import annotations

import base64
import json
from typing import Any

from wagate.events.signing import event_body
from wagate.store.media import MediaStore
from wagate.store.media_links import MediaLinks, media_of


class OutgoingMedia:
    def __init__(self, links: MediaLinks, store: MediaStore) -> None:
        self.links = links
        self.store = store

    def event(self, payload: dict[str, Any]) -> dict[str, Any]:
        """An event object (pull, stream) with its media paths turned into signed links."""
        signed = self.links.sign_data(payload.get("data"))
        return payload if signed is payload.get("data") else {**payload, "data": signed}

    async def webhook_body(self, text: str, inline_max_bytes: int | None) -> str:
        """A delivery's JSON text as this attempt sends it: signed links, and files up to
        ``inline_max_bytes`` inline (``base64``); the stored text when it has no media."""
        if "/media" not in text:
            return text  # the common case: no parse
        payload = json.loads(text)
        data = payload.get("data")
        found = media_of(data)
        if not found:
            return text
        if inline_max_bytes:
            for media in found:
                await self._inline(media, payload.get("session_id"), inline_max_bytes)
        return event_body(
            type=payload["type"],
            timestamp=payload.get("timestamp"),
            session_id=payload.get("session_id"),
            data=self.links.sign_data(data),
        )

    async def _inline(self, media: dict[str, Any], session_id: Any, limit: int) -> None:
        size = media.get("size")
        if not isinstance(session_id, str):
            return
        if not isinstance(size, int) or size > limit:
            return  # too big for this webhook (or of unknown size): the link only
        data = await self.store.read_attached(session_id, media)
        if data is not None and len(data) <= limit:
            media["base64"] = base64.b64encode(data).decode()
