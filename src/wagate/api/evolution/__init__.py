"""Drop-in API surfaces for clients written against other gateways (Evolution API v2)."""

from fastapi import APIRouter

from wagate.api.evolution import chat, chatwoot, instances, messages, webhook

router = APIRouter()
for part in (instances, messages, chat, webhook, chatwoot):
    router.include_router(part.router)

__all__ = ["router"]
