"""Transports by the name a session's ``transport`` field uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wagate.domain import InvalidRequest
from wagate.transports.base import Capabilities, Transport, TransportContext

TransportFactory = Callable[[TransportContext], Transport]

KNOWN_TRANSPORTS = ("simulator", "whatsmeow", "cloud", "evolution")


class TransportRegistry:
    """Maps a transport name to a factory. The composition root fills it."""

    def __init__(self) -> None:
        self._factories: dict[str, TransportFactory] = {}
        self._capabilities: dict[str, Capabilities] = {}
        self._secret_fields: dict[str, frozenset[str]] = {}
        self._endpoint_fields: dict[str, frozenset[str]] = {}

    def register(
        self,
        name: str,
        factory: TransportFactory,
        capabilities: Capabilities,
        *,
        secret_fields: frozenset[str] = frozenset(),
        endpoint_fields: frozenset[str] = frozenset(),
    ) -> None:
        """Add a transport; ``secret_fields`` are the config keys stored sealed, and
        ``endpoint_fields`` the keys that say where those secrets are sent."""
        self._factories[name] = factory
        self._capabilities[name] = capabilities
        self._secret_fields[name] = secret_fields
        self._endpoint_fields[name] = endpoint_fields

    def secret_fields(self, name: str) -> frozenset[str]:
        return self._secret_fields.get(name, frozenset())

    def merge_config(
        self, name: str, current: dict[str, Any], changes: dict[str, Any]
    ) -> dict[str, Any]:
        """``changes`` applied to ``current`` key by key (None removes a key). When an
        endpoint field changes, the stored secrets are dropped unless ``changes`` gives
        them again: a key set for one server is never sent to another one."""
        merged = {**current, **changes}
        endpoint_changed = any(
            field in changes and changes[field] != current.get(field)
            for field in self._endpoint_fields.get(name, frozenset())
        )
        if endpoint_changed:
            for field in self.secret_fields(name) - changes.keys():
                merged.pop(field, None)
        return {key: value for key, value in merged.items() if value is not None}

    def capabilities(self, name: str) -> Capabilities:
        self.ensure_available(name)
        return self._capabilities[name]

    def available(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str, context: TransportContext) -> Transport:
        try:
            factory = self._factories[name]
        except KeyError:
            raise InvalidRequest(
                f"transport {name!r} is not available in this build; available: "
                f"{', '.join(self.available())}",
                code="transport_unavailable",
            ) from None
        return factory(context)

    def ensure_available(self, name: str) -> None:
        if name not in self._factories:
            raise InvalidRequest(
                f"transport {name!r} is not available in this build; available: "
                f"{', '.join(self.available())}",
                code="transport_unavailable",
            )
