"""Engine credentials inside session configs, sealed at rest.

A transport names the config fields that are secrets (a Cloud API access token
and app secret, an Evolution API key); they are stored sealed with the
installation's key, bound to the session id and field name, and opened only
when a transport is built or an ingest webhook must be verified.
"""

from __future__ import annotations

from typing import Any

from wagate.store.crypto import SecretBox
from wagate.transports.registry import TransportRegistry


class ConfigSecrets:
    def __init__(self, box: SecretBox, registry: TransportRegistry) -> None:
        self.box = box
        self.registry = registry

    def seal(self, transport: str, session_id: str, config: dict[str, Any]) -> dict[str, Any]:
        sealed = dict(config)
        for name in self.registry.secret_fields(transport):
            value = sealed.get(name)
            if isinstance(value, str) and value:
                sealed[name] = self.box.seal(value, _context(session_id, name))
        return sealed

    def open(self, transport: str, session_id: str, config: dict[str, Any]) -> dict[str, Any]:
        opened = dict(config)
        for name in self.registry.secret_fields(transport):
            value = opened.get(name)
            if isinstance(value, str) and value:
                opened[name] = self.box.open(value, _context(session_id, name))
        return opened


def _context(session_id: str, field: str) -> str:
    return f"session:{session_id}:config:{field}"
