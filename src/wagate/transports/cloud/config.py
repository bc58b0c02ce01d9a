"""A cloud session's ``config``: which phone number, and the secrets that go with it.

``access_token``, ``app_secret`` and ``verify_token`` are registered as secret
fields, so the registry stores them sealed; the transport and the ingest route
get them opened. :func:`validate_cloud_config` runs when the session is
created, so a missing or malformed key fails the API call (422
``invalid_config``) instead of the first connect.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wagate.domain import InvalidRequest

SECRET_FIELDS = frozenset({"access_token", "app_secret", "verify_token"})


class CloudConfig(BaseModel):
    """The keys of a cloud session's ``config`` (CONTRACT.md, Ingest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phone_number_id: str = Field(
        pattern=r"^\d{5,32}$", description="the Phone Number ID from the app's WhatsApp page"
    )
    access_token: str = Field(
        min_length=8, max_length=4096, description="a system user or business access token"
    )
    app_secret: str = Field(
        min_length=8, max_length=256, description="the app secret that signs the webhooks"
    )
    verify_token: str = Field(
        min_length=8,
        max_length=256,
        description="any string; typed again in Meta's webhook settings for the handshake",
    )


def parse_cloud_config(config: dict[str, Any] | None) -> CloudConfig:
    """Validate a cloud session's ``config``; raises ``InvalidRequest(code="invalid_config")``."""
    try:
        return CloudConfig.model_validate(config or {})
    except ValidationError as exc:
        raise InvalidRequest(
            f"invalid cloud config: {_describe(exc)}", code="invalid_config"
        ) from None


def validate_cloud_config(config: dict[str, Any]) -> dict[str, Any]:
    """Check a cloud session's ``config`` at creation and return it normalized."""
    return parse_cloud_config(config).model_dump(mode="json")


def _describe(exc: ValidationError) -> str:
    """One line per bad field, never echoing the value (it may be a secret)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "config"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
