"""Transports by the name a session's ``transport`` field uses."""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from wagate.domain import InvalidRequest
from wagate.transports.base import Capabilities, Transport, TransportContext

TransportFactory = Callable[[TransportContext], Transport]

KNOWN_TRANSPORTS = ("simulator", "whatsmeow", "cloud", "evolution")


@dataclass(frozen=True, slots=True)
class ConfigField:
    """One key of a transport's ``config``, as a form asks for it."""

    name: str
    kind: Literal["text", "number", "boolean", "secret"]
    required: bool
    description: str | None


def describe_config(
    model: type[BaseModel], secret_fields: frozenset[str] = frozenset()
) -> tuple[ConfigField, ...]:
    """The simple keys of a config model (text, numbers, switches); nested ones such as
    the simulator's generated contacts are left to the API."""
    fields = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if get_origin(annotation) in (Union, types.UnionType):
            annotation = next((a for a in get_args(annotation) if a is not type(None)), None)
        kind: Literal["text", "number", "boolean", "secret"]
        if name in secret_fields:
            kind = "secret"
        elif annotation is str:
            kind = "text"
        elif annotation in (int, float):
            kind = "number"
        elif annotation is bool:
            kind = "boolean"
        else:
            continue
        fields.append(ConfigField(name, kind, info.is_required(), info.description))
    return tuple(fields)


class TransportRegistry:
    """Maps a transport name to a factory. The composition root fills it."""

    def __init__(self) -> None:
        self._factories: dict[str, TransportFactory] = {}
        self._capabilities: dict[str, Capabilities] = {}
        self._secret_fields: dict[str, frozenset[str]] = {}
        self._endpoint_fields: dict[str, frozenset[str]] = {}
        self._config_fields: dict[str, tuple[ConfigField, ...]] = {}

    def register(
        self,
        name: str,
        factory: TransportFactory,
        capabilities: Capabilities,
        *,
        secret_fields: frozenset[str] = frozenset(),
        endpoint_fields: frozenset[str] = frozenset(),
        config_model: type[BaseModel] | None = None,
    ) -> None:
        """Add a transport; ``secret_fields`` are the config keys stored sealed,
        ``endpoint_fields`` the keys that say where those secrets are sent, and
        ``config_model`` what its ``config`` holds (the dashboard's form is made from it)."""
        self._factories[name] = factory
        self._capabilities[name] = capabilities
        self._secret_fields[name] = secret_fields
        self._endpoint_fields[name] = endpoint_fields
        if config_model is not None:
            self._config_fields[name] = describe_config(config_model, secret_fields)

    def config_fields(self, name: str) -> tuple[ConfigField, ...]:
        return self._config_fields.get(name, ())

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

    def require(self, name: str, what: str, capable: Callable[[Capabilities], bool]) -> None:
        """422 ``unsupported_by_transport`` unless transport ``name`` can do ``what``."""
        capabilities = self.capabilities(name)
        capabilities.require(what, capable(capabilities))

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
