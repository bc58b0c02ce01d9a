"""Timings of the simulated network, and the per-session overrides a session's ``config`` may carry.

Network-wide defaults live in :class:`SimulatorSettings`. A simulator session
may override the phone's identity and the recipient's behaviour in its
``config`` dict; :func:`validate_simulator_config` checks those keys when the
session is created, so a typo fails the API call instead of the first start.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
)

from wagate.domain import InvalidDestination, InvalidRequest, normalize_phone

MAX_DELAY_MS = 3_600_000  # an hour; longer receipts are never what a test or demo wants
MAX_GENERATED_CONTACTS = 100
MAX_LISTED_CONTACTS = 1000


@dataclass(frozen=True, slots=True)
class SimulatorSettings:
    """How the simulated network behaves. Times in seconds of the injected clock."""

    first_qr_ttl_s: float = 60.0  # the first QR of a login attempt lives longer, as on WhatsApp
    qr_ttl_s: float = 20.0  # every later QR
    qr_max_codes: int = 5  # after this many unscanned codes the attempt ends with 408
    delivery_delay_s: float = 0.5  # send -> "delivered" receipt
    read_delay_s: float = 2.0  # send -> "read" receipt (when auto_read)
    played_delay_s: float = 3.0  # send -> "played" receipt for voice notes (when auto_read)
    auto_read: bool = True  # the recipient opens every message
    contacts_per_phone: int = 5  # generated contacts of each virtual phone
    pairing_code_ttl_s: float = 180.0  # how long a pairing code may be typed on the phone


def _digits(value: str) -> str:
    try:
        return normalize_phone(value)
    except InvalidDestination as exc:
        raise ValueError(exc.message) from None


class ContactConfig(BaseModel):
    """One contact of the virtual phone's address book, given explicitly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phone: str
    name: str = Field(min_length=1, max_length=128)
    lid: str | None = Field(default=None, pattern=r"^\d{6,20}$", description="digits of the @lid")

    @field_validator("phone")
    @classmethod
    def _phone_digits(cls, value: str) -> str:
        return _digits(value)


DelayMs = Annotated[int, Field(ge=0, le=MAX_DELAY_MS, strict=True)]

# A count or a list; the tag picks the branch so an error names only the one that applies
# ("contacts.count: ..." or "contacts.list.0.phone: ...").
ContactsSetting = Annotated[
    Annotated[int, Field(ge=0, le=MAX_GENERATED_CONTACTS, strict=True), Tag("count")]
    | Annotated[list[ContactConfig], Field(max_length=MAX_LISTED_CONTACTS), Tag("list")],
    Discriminator(lambda value: "list" if isinstance(value, list) else "count"),
]


class SimulatorConfig(BaseModel):
    """The keys a simulator session's ``config`` may hold; every key is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phone: str | None = Field(default=None, description="the virtual phone's number (digits)")
    push_name: str | None = Field(default=None, min_length=1, max_length=64)
    contacts: ContactsSetting | None = Field(
        default=None, description="how many contacts to generate, or the contacts themselves"
    )
    delivery_delay_ms: DelayMs | None = None
    read_delay_ms: DelayMs | None = None
    played_delay_ms: DelayMs | None = None
    auto_read: bool | None = Field(default=None, strict=True)

    @field_validator("phone")
    @classmethod
    def _phone_digits(cls, value: str | None) -> str | None:
        return None if value is None else _digits(value)

    def apply(self, settings: SimulatorSettings) -> SimulatorSettings:
        """``settings`` with this session's overrides applied."""
        changes: dict[str, Any] = {}
        if self.delivery_delay_ms is not None:
            changes["delivery_delay_s"] = self.delivery_delay_ms / 1000
        if self.read_delay_ms is not None:
            changes["read_delay_s"] = self.read_delay_ms / 1000
        if self.played_delay_ms is not None:
            changes["played_delay_s"] = self.played_delay_ms / 1000
        if self.auto_read is not None:
            changes["auto_read"] = self.auto_read
        if isinstance(self.contacts, int):
            changes["contacts_per_phone"] = self.contacts
        return replace(settings, **changes)


def parse_simulator_config(config: dict[str, Any] | None) -> SimulatorConfig:
    """Validate a session's ``config``; raises ``InvalidRequest(code="invalid_config")``."""
    try:
        return SimulatorConfig.model_validate(config or {})
    except ValidationError as exc:
        raise InvalidRequest(
            f"invalid simulator config: {describe_errors(exc)}", code="invalid_config"
        ) from None


def validate_simulator_config(config: dict[str, Any]) -> dict[str, Any]:
    """Check a simulator session's ``config`` and return it normalized (phone digits etc.).

    Only the keys the caller gave are returned. Raises
    ``InvalidRequest(code="invalid_config")`` with every problem in one message.
    """
    return parse_simulator_config(config).model_dump(mode="json", exclude_unset=True)


def describe_errors(exc: ValidationError) -> str:
    """One line naming each bad field: ``contacts.0.phone: ...; auto_read: ...``."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "body"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
