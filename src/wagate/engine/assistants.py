"""Loading and saving a session's engine settings; the brain's API key sealed at rest."""

from __future__ import annotations

from typing import Any

from wagate.engine.settings import (
    AssistantSettings,
    BrainSettings,
    Transcription,
    parse_settings,
)
from wagate.engine.settings import public_view as _public_view
from wagate.events import SecretBox
from wagate.store import AsyncSession
from wagate.store.models import Session
from wagate.store.models_engine import Assistant
from wagate.store.repositories import conversations

DEFAULTS = AssistantSettings()


def _transcription_context(session_id: str) -> str:
    return f"session:{session_id}:assistant:transcription_key"


def _context(session_id: str, header: str | None = None) -> str:
    if header is not None:
        return f"session:{session_id}:assistant:header:{header.lower()}"
    return f"session:{session_id}:assistant:api_key"


def settings_of(row: Assistant | None) -> AssistantSettings:
    """The stored settings (``brain.api_key`` and header values still sealed), or the
    defaults."""
    if row is None:
        return DEFAULTS
    return AssistantSettings.model_validate({**row.config, "enabled": row.enabled})


def open_api_key(box: SecretBox, session_id: str, settings: AssistantSettings) -> str | None:
    sealed = settings.brain.api_key
    return box.open(sealed, _context(session_id)) if sealed else None


def open_transcription_key(
    box: SecretBox, session_id: str, settings: AssistantSettings
) -> str | None:
    sealed = settings.transcription.api_key
    return box.open(sealed, _transcription_context(session_id)) if sealed else None


def open_brain(box: SecretBox, session_id: str, settings: AssistantSettings) -> BrainSettings:
    """The brain's settings with its API key and header values opened, to build it."""
    brain = settings.brain
    headers = {
        name: box.open(value, _context(session_id, name)) for name, value in brain.headers.items()
    }
    return brain.model_copy(
        update={"api_key": open_api_key(box, session_id, settings), "headers": headers}
    )


async def save(
    tx: AsyncSession, box: SecretBox, session: Session, body: dict[str, Any], now: Any
) -> AssistantSettings:
    """Validate and store.

    ``brain.api_key`` and ``brain.headers`` are sealed. A body without them keeps the
    stored ones, but only while the brain's endpoint stays (its kind, ``base_url`` and
    ``url``): a key or an ``Authorization`` header set for one server is never sent to
    another one unless the request gives it again.
    """
    settings = parse_settings(body)
    current = settings_of(await conversations.get_assistant(tx, session.id))
    brain_body = body.get("brain") if isinstance(body.get("brain"), dict) else {}
    assert isinstance(brain_body, dict)
    same_endpoint = _endpoint(settings.brain) == _endpoint(current.brain)
    if "api_key" in brain_body:
        key = brain_body["api_key"]
        sealed = box.seal(key, _context(session.id)) if key else None
    else:
        sealed = current.brain.api_key if same_endpoint else None
    if "headers" in brain_body:
        headers = {
            name: box.seal(value, _context(session.id, name))
            for name, value in settings.brain.headers.items()
        }
    else:
        headers = current.brain.headers if same_endpoint else {}
    stored = settings.model_copy(
        update={
            "brain": settings.brain.model_copy(update={"api_key": sealed, "headers": headers}),
            "transcription": _sealed_transcription(box, session.id, body, settings, current),
        }
    )
    config = stored.model_dump(mode="json", exclude={"enabled"})
    await conversations.put_assistant(
        tx,
        session_id=session.id,
        tenant_id=session.tenant_id,
        enabled=stored.enabled,
        config=config,
        now=now,
    )
    return stored


def _sealed_transcription(
    box: SecretBox,
    session_id: str,
    body: dict[str, Any],
    settings: AssistantSettings,
    current: AssistantSettings,
) -> Transcription:
    """The transcription settings with their key sealed; a body without a key keeps the
    stored one while ``base_url`` stays, as for the brain."""
    given = body.get("transcription") if isinstance(body.get("transcription"), dict) else {}
    assert isinstance(given, dict)
    if "api_key" in given:
        key = given["api_key"]
        sealed = box.seal(key, _transcription_context(session_id)) if key else None
    elif settings.transcription.base_url == current.transcription.base_url:
        sealed = current.transcription.api_key
    else:
        sealed = None
    return settings.transcription.model_copy(update={"api_key": sealed})


def _endpoint(brain: BrainSettings) -> tuple[str, str | None, str | None]:
    return brain.kind, brain.base_url, brain.url


def public_view(settings: AssistantSettings) -> dict[str, Any]:
    return _public_view(settings, api_key_set=bool(settings.brain.api_key))
