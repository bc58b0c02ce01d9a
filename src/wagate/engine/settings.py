"""A session's engine settings (``GET``/``PUT /v1/sessions/{id}/assistant``).

Stored as JSON in the ``assistants`` table, with the brain's ``api_key``
sealed at rest; the API never shows it back (``api_key_set`` says whether one
is stored). A ``PUT`` that leaves ``brain.api_key`` out keeps the stored key.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from wagate.domain import InvalidRequest
from wagate.domain.policy import PacingName

BrainKind = Literal["echo", "webhook", "openai", "openai_compatible", "anthropic"]
DEFAULT_HANDOFF = ("humano", "atendente", "human")

_STRICT = ConfigDict(extra="forbid")


class BrainSettings(BaseModel):
    """Who writes the replies."""

    model_config = _STRICT

    kind: BrainKind = "echo"
    model: str | None = Field(default=None, max_length=200)
    base_url: str | None = Field(default=None, max_length=2048, description="OpenAI-compatible")
    api_key: str | None = Field(default=None, max_length=500, description="write-only")
    url: str | None = Field(default=None, max_length=2048, description="the webhook brain's URL")
    system_prompt: str | None = Field(default=None, max_length=20000)
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="per brain call")
    max_tokens: int = Field(default=1024, ge=1, le=32000)
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="extra headers for the webhook brain (write-only: sealed at rest, shown "
        "as `header_names`)",
    )

    @model_validator(mode="after")
    def _needs(self) -> BrainSettings:
        if self.kind == "webhook" and not self.url:
            raise ValueError("a webhook brain needs `url`")
        if self.kind == "openai_compatible" and not self.base_url:
            raise ValueError("an openai_compatible brain needs `base_url`")
        if self.kind in ("openai", "openai_compatible", "anthropic") and not self.model:
            raise ValueError(f"a {self.kind} brain needs `model`")
        return self


class Batching(BaseModel):
    """How long to wait for the contact to finish before answering."""

    model_config = _STRICT

    window_ms: int = Field(default=4000, ge=0, le=600_000)
    media_window_ms: int = Field(default=5000, ge=0, le=600_000)
    max_wait_ms: int = Field(default=30000, ge=0, le=3_600_000)
    max_batch: int = Field(default=8, ge=1, le=100)


class Transcription(BaseModel):
    """Hearing voice notes: an inbound voice note (or audio) is transcribed before the brain
    sees it, through an OpenAI-compatible ``/audio/transcriptions`` API: OpenAI's (no
    ``base_url``), or a local model's server (whisper.cpp, faster-whisper-server, LocalAI)."""

    model_config = _STRICT

    enabled: bool = False
    base_url: str | None = Field(default=None, max_length=2048, description="OpenAI-compatible")
    api_key: str | None = Field(default=None, max_length=500, description="write-only")
    model: str = Field(default="whisper-1", min_length=1, max_length=200)
    language: str | None = Field(
        default=None, pattern=r"^[a-z]{2}$", description="ISO 639-1 hint, e.g. `pt`"
    )
    timeout_s: float = Field(default=60.0, gt=0, le=600)


class Reactions(BaseModel):
    model_config = _STRICT

    probability: float = Field(default=0.0, ge=0, le=1)
    emojis: list[str] = Field(default_factory=lambda: ["👍", "🙂", "🙏"], min_length=1)


class AssistantSettings(BaseModel):
    """The engine settings of one session. Every field has a default."""

    model_config = _STRICT

    enabled: bool = False
    brain: BrainSettings = Field(default_factory=BrainSettings)
    history_window: int = Field(default=20, ge=0, le=200, description="earlier messages sent")
    fallback_reply: str | None = Field(
        default=None, max_length=4096, description="sent when the brain fails; null: silence"
    )
    batching: Batching = Field(default_factory=Batching)
    pacing: PacingName | None = Field(
        default=None,
        description="reading time before the reply; `instant` also skips typing; "
        "null: the session's pacing",
    )
    resume_after_s: float = Field(
        default=7200, ge=0, le=366 * 86400, description="quiet time of the human"
    )
    groups: bool = False
    allow: list[str] = Field(default_factory=list, description="only these chats (empty: all)")
    ignore: list[str] = Field(default_factory=list, description="never these chats")
    handoff_keywords: list[str] = Field(default_factory=lambda: list(DEFAULT_HANDOFF))
    reactions: Reactions = Field(default_factory=Reactions)
    quote_when_batched: bool = True
    transcription: Transcription = Field(default_factory=Transcription)


def parse_settings(body: dict[str, Any]) -> AssistantSettings:
    """Validate a request body; 422 ``invalid_assistant`` with the first problem."""
    try:
        return AssistantSettings.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidRequest(f"{where}: {first['msg']}", code="invalid_assistant") from None


def public_view(settings: AssistantSettings, *, api_key_set: bool) -> dict[str, Any]:
    """The settings as the API shows them: the key and header values never leave the
    server (the header names do)."""
    body = settings.model_dump(mode="json")
    body["brain"].pop("api_key", None)
    body["brain"]["api_key_set"] = api_key_set
    body["brain"]["header_names"] = sorted(body["brain"].pop("headers", {}) or {})
    body["transcription"]["api_key_set"] = bool(body["transcription"].pop("api_key", None))
    return body
