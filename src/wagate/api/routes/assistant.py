"""A session's conversation engine settings (``GET``/``PUT /v1/sessions/{id}/assistant``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from wagate.api.deps import PrincipalDep, ServicesDep
from wagate.api.routes.sessions import load_session
from wagate.api.schemas_engine import AssistantOut
from wagate.domain import StorageError
from wagate.engine import ConversationEngine

router = APIRouter(prefix="/v1/sessions", tags=["conversations"])


def engine_of(services: Any) -> ConversationEngine:
    engine: ConversationEngine | None = services.engine
    if engine is None:
        raise StorageError(
            "the conversation engine is disabled in this worker (WAGATE_ENGINE_ENABLED=false)",
            code="engine_disabled",
        )
    return engine


@router.get("/{session_id}/assistant", response_model=AssistantOut)
async def get_assistant(
    session_id: str, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The engine settings of the session (defaults until set; the API key is never shown)."""
    session = await load_session(services, session_id, principal)
    return await engine_of(services).get_settings(session)


@router.put("/{session_id}/assistant", response_model=AssistantOut)
async def put_assistant(
    session_id: str, body: dict[str, Any], services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Replace the engine settings; fields left out take their defaults, except
    ``brain.api_key``, which is kept when left out (send null to remove it).

    Fields: enabled, brain {kind: echo|webhook|openai|openai_compatible|anthropic, model,
    base_url, api_key, url, system_prompt, timeout_s, max_tokens, headers}, history_window,
    fallback_reply, batching {window_ms, media_window_ms, max_wait_ms, max_batch}, pacing,
    resume_after_s, groups, allow, ignore, handoff_keywords, reactions {probability, emojis},
    quote_when_batched.
    """
    session = await load_session(services, session_id, principal)
    return await engine_of(services).put_settings(session, body)
