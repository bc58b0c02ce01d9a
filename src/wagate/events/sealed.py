"""A webhook's sealed parts: its signing secret and its extra headers, opened for
delivery and sealed for storage with the installation's secret key."""

from __future__ import annotations

import json
from collections.abc import Mapping

from wagate.store.crypto import SecretBox
from wagate.store.models import Webhook


def headers_context(webhook_id: str) -> str:
    """What sealed headers are bound to: they cannot be moved to another webhook, nor
    taken for its secret."""
    return f"{webhook_id}/headers"


def open_secret(box: SecretBox, hook: Webhook) -> str:
    if hook.secret.startswith("whsec_"):  # stored before secrets were sealed
        return hook.secret
    return box.open(hook.secret, hook.id)


def seal_headers(box: SecretBox, webhook_id: str, headers: Mapping[str, str] | None) -> str | None:
    if not headers:
        return None
    return box.seal(json.dumps(dict(headers)), headers_context(webhook_id))


def open_headers(box: SecretBox, hook: Webhook) -> dict[str, str]:
    if not hook.headers:
        return {}
    opened = json.loads(box.open(hook.headers, headers_context(hook.id)))
    return {str(name): str(value) for name, value in opened.items()}
