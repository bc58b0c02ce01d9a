"""Drop-in API surfaces for clients written against other gateways (Evolution API v2)."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from wagate.api.evolution import chat, chatwoot, instances, messages, shapes, webhook

router = APIRouter()
for part in (instances, messages, chat, webhook, chatwoot):
    router.include_router(part.router)

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@router.api_route("/evolution/{rest:path}", methods=METHODS, include_in_schema=False)
async def not_supported(request: Request, rest: str) -> JSONResponse:
    """What Evolution serves and wagate does not: Evolution's 404, in its shape (its
    Express server says ``Cannot <METHOD> <path>``)."""
    message = f"Cannot {request.method} /{rest}"
    return JSONResponse(shapes.error_body(404, [message]), status_code=404)


__all__ = ["router"]
