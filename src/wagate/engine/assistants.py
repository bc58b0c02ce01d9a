"""Loading and saving a session's engine settings; the brain's API key sealed at rest."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wagate.engine.settings import AssistantSettings, parse_settings
from wagate.engine.settings import public_view as _public_view
from wagate.events import SecretBox
from wagate.store.models import Session
from wagate.store.models_engine import Assistant
from wagate.store.repositories import conversations

DEFAULTS = AssistantSettings()


def _context(session_id: str) -> str:
    return f"session:{session_id}:assistant:api_key"


def settings_of(row: Assistant | None) -> AssistantSettings:
    """The stored settings (``brain.api_key`` still sealed), or the defaults."""
    if row is None:
        return DEFAULTS
    return AssistantSettings.model_validate({**row.config, "enabled": row.enabled})


def open_api_key(box: SecretBox, session_id: str, settings: AssistantSettings) -> str | None:
    sealed = settings.brain.api_key
    return box.open(sealed, _context(session_id)) if sealed else None


async def save(
    tx: AsyncSession, box: SecretBox, session: Session, body: dict[str, Any], now: Any
) -> AssistantSettings:
    """Validate and store; a body without ``brain.api_key`` keeps the stored key."""
    settings = parse_settings(body)
    current = settings_of(await conversations.get_assistant(tx, session.id))
    brain_body = body.get("brain") if isinstance(body.get("brain"), dict) else {}
    assert isinstance(brain_body, dict)
    if "api_key" in brain_body:
        key = brain_body["api_key"]
        sealed = box.seal(key, _context(session.id)) if key else None
    else:
        sealed = current.brain.api_key
    stored = settings.model_copy(
        update={"brain": settings.brain.model_copy(update={"api_key": sealed})}
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


def public_view(settings: AssistantSettings) -> dict[str, Any]:
    return _public_view(settings, api_key_set=bool(settings.brain.api_key))
