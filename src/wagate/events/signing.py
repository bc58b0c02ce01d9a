"""The bytes of a webhook delivery and its Standard Webhooks signature.

Body: ``{"type", "timestamp", "session_id", "data"}`` as compact JSON,
built once per event and identical on every attempt. Headers:
``webhook-id`` (the event's stable id, the same on every retry and replay,
so receivers can deduplicate), ``webhook-timestamp`` (seconds since the
epoch, of this attempt) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256
of "id.timestamp.body">`` under the webhook's ``whsec_`` secret), made by the
``standardwebhooks`` package so that any Standard Webhooks verifier accepts it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook as StandardWebhook

from wagate import __version__

USER_AGENT = f"wagate/{__version__}"


def event_body(
    *, type: str, timestamp: str | None, session_id: str | None, data: dict[str, Any]
) -> str:
    """The JSON text of one event as receivers get it."""
    return json.dumps(
        {"type": type, "timestamp": timestamp, "session_id": session_id, "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )


class Signer:
    """Signs deliveries for one endpoint (the secret is decoded once)."""

    def __init__(self, secret: str, extra: Mapping[str, str] | None = None) -> None:
        self._webhook = StandardWebhook(secret)
        self._extra = dict(extra or {})  # the operator's headers; the signature's come last

    def headers(self, message_id: str, body: str, now: datetime) -> dict[str, str]:
        seconds = math.floor(now.timestamp())
        signature = self._webhook.sign(
            msg_id=message_id, timestamp=datetime.fromtimestamp(seconds, UTC), data=body
        )
        return {
            **self._extra,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(seconds),
            "webhook-signature": signature,
        }
