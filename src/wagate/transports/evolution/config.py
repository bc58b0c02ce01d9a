"""An evolution session's ``config``: where its Evolution server is and how to reach it.

``{"base_url": "https://evo.example.com", "instance": "sales", "api_key": "..."}``.
``instance`` defaults to the session's name (CONTRACT.md); ``api_key`` is the
instance's (or the server's global) key, sent as the ``apikey`` header and stored
sealed. ``base_url`` must not point inside the network unless
``WAGATE_ALLOW_PRIVATE_URLS`` is on: a session's owner could otherwise aim wagate's
requests at internal services. Literal addresses and ``localhost`` are refused
here, at creation; names that resolve to private addresses are refused when the
transport connects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wagate.domain import InvalidRequest, UnsafeUrl
from wagate.domain.urls import check_url_syntax, is_private_host

API_KEY_FIELD = "api_key"
SECRET_FIELDS = frozenset({API_KEY_FIELD})


class EvolutionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    base_url: str = Field(min_length=1, max_length=2048)
    api_key: str = Field(min_length=1, max_length=512)
    instance: str | None = Field(default=None, min_length=1, max_length=256)
    poll_interval_s: float = Field(default=5.0, gt=0, le=3600)
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    presence_ms: int = Field(default=3000, ge=0, le=20000)

    @field_validator("base_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        try:
            check_url_syntax(value)
        except UnsafeUrl as exc:
            raise ValueError(exc.message) from None
        return value.rstrip("/")

    @field_validator("instance")
    @classmethod
    def _no_slash(cls, value: str | None) -> str | None:
        if value is not None and ("/" in value or "?" in value or "#" in value):
            raise ValueError("an instance name cannot contain '/', '?' or '#'")
        return value


def parse_evolution_config(config: dict[str, Any] | None) -> EvolutionConfig:
    """Validate an evolution session's ``config``; 422 ``invalid_config`` with every problem."""
    try:
        return EvolutionConfig.model_validate(config or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        )
        raise InvalidRequest(
            f"invalid evolution config: {problems}", code="invalid_config"
        ) from None


def validate_evolution_config(
    config: dict[str, Any], *, allow_private_urls: bool = False
) -> dict[str, Any]:
    """Check a new session's config and return it normalized (only the keys given)."""
    parsed = parse_evolution_config(config)
    if not allow_private_urls and is_private_host(check_url_syntax(parsed.base_url)):
        raise UnsafeUrl(
            f"base_url {parsed.base_url!r} points at a private or loopback address; set "
            "WAGATE_ALLOW_PRIVATE_URLS=true to use an Evolution server inside your network"
        )
    return parsed.model_dump(mode="json", exclude_unset=True) | {"base_url": parsed.base_url}


def evolution_config_validator(
    *, allow_private_urls: bool
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The validator the composition root registers, bound to the private-URL setting."""

    def validate(config: dict[str, Any]) -> dict[str, Any]:
        return validate_evolution_config(config, allow_private_urls=allow_private_urls)

    return validate
