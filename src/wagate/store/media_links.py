"""Signed, expiring links to a message's media, for receivers that hold no API key (an n8n
workflow opening a voice note from a webhook, a brain fetching an image).

A link is ``<WAGATE_PUBLIC_URL>/v1/media/<message id>?expires=<unix s>&kid=<n>&sig=<mac>``:
the MAC is HMAC-SHA256 over the message id and the expiry, with a key derived from the
installation's secret key and the key id ``kid``. Links are made with
``WAGATE_MEDIA_LINK_KEY_ID`` and that id's predecessor is still accepted, so rotating
(raising the id by one) ends the older links without breaking those just sent; raising it
by two ends every link issued so far. Events are stored with the relative, keyed path
``/v1/messages/<id>/media``; links are made when an event leaves (a webhook attempt, the
live stream, a brain's request), so a retried delivery carries a fresh link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from wagate.store.crypto import SecretBox

KEYED_PATH = re.compile(r"^/v1/messages/([A-Za-z0-9_-]{1,64})/media$")
MAX_DEPTH = 8  # how deep an event's data is searched for media


class MediaLinks:
    def __init__(
        self,
        box: SecretBox,
        *,
        key_id: int,
        ttl_s: float,
        public_url: str | None,
        now: Callable[[], datetime],
    ) -> None:
        self._keys = {kid: box.derive(f"wagate media links {kid}") for kid in (key_id, key_id - 1)}
        self.key_id = key_id
        self.ttl_s = ttl_s
        self.base = (public_url or "").rstrip("/")  # "" keeps links relative to this server
        self.now = now

    def url(self, message_id: str) -> str:
        expires = int(self.now().timestamp() + self.ttl_s)
        sig = self._mac(self.key_id, message_id, expires)
        return f"{self.base}/v1/media/{message_id}?expires={expires}&kid={self.key_id}&sig={sig}"

    def link_for_path(self, path: str) -> str:
        """A signed link for a keyed media path (``/v1/messages/<id>/media``); anything
        else as it is."""
        found = KEYED_PATH.match(path)
        return self.url(found.group(1)) if found else path

    def verify(self, message_id: str, expires: int, key_id: int, sig: str) -> bool:
        """Whether the link is one of ours and has not expired."""
        if key_id not in self._keys or expires < self.now().timestamp():
            return False
        return hmac.compare_digest(self._mac(key_id, message_id, expires), sig)

    def _mac(self, key_id: int, message_id: str, expires: int) -> str:
        digest = hmac.new(
            self._keys[key_id], f"{message_id}.{expires}".encode(), hashlib.sha256
        ).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign_data(self, data: Any, depth: int = 0) -> Any:
        """``data`` with every keyed media path (``{"url": "/v1/messages/<id>/media"}``)
        replaced by a signed link; the same object when there is none."""
        if depth > MAX_DEPTH:
            return data
        if isinstance(data, dict):
            changed: dict[str, Any] | None = None
            for key, value in data.items():
                if key == "url" and isinstance(value, str) and (found := KEYED_PATH.match(value)):
                    new: Any = self.url(found.group(1))
                else:
                    new = self.sign_data(value, depth + 1)
                if new is not value:
                    changed = changed if changed is not None else dict(data)
                    changed[key] = new
            return changed if changed is not None else data
        if isinstance(data, list):
            items = [self.sign_data(item, depth + 1) for item in data]
            return items if any(a is not b for a, b in zip(items, data, strict=True)) else data
        return data


def media_of(data: Any, depth: int = 0) -> list[dict[str, Any]]:
    """The media objects (dicts with a keyed ``url``) in an event's data."""
    if depth > MAX_DEPTH:
        return []
    if isinstance(data, dict):
        found = [data] if isinstance(data.get("url"), str) and KEYED_PATH.match(data["url"]) else []
        for value in data.values():
            found += media_of(value, depth + 1)
        return found
    if isinstance(data, list):
        return [m for item in data for m in media_of(item, depth + 1)]
    return []
