"""What every route of the Evolution surface shares: errors in Evolution's shape, the
``apikey`` caller, and finding an instance by name."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from wagate.api.deps import (
    DatabaseDep,
    principal_for,
)
from wagate.api.evolution import shapes
from wagate.api.principal import Principal
from wagate.api.routes.sessions import load_session_row
from wagate.domain import (
    AuthError,
    Forbidden,
    NotFound,
    WagateError,
)
from wagate.store.models import Session
from wagate.store.repositories import sessions

log = structlog.get_logger("wagate.api")

if TYPE_CHECKING:
    from wagate.app import Services

NAME = r"^[A-Za-z0-9_.-]{1,64}$"


class EvolutionRoute(APIRoute):
    """Answers every error of these routes in Evolution's shape (clients parse it)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await handle(request)
            except WagateError as exc:
                return JSONResponse(
                    shapes.error_body(exc.status_code, [exc.message]), status_code=exc.status_code
                )
            except RequestValidationError as exc:
                messages = [f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors()]
                return JSONResponse(shapes.error_body(400, messages), status_code=400)
            except ValidationError as exc:  # a wagate request built from a valid body
                messages = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
                return JSONResponse(shapes.error_body(400, messages), status_code=400)
            except HTTPException:
                raise  # Starlette's own (405, ...): its handler answers
            except Exception:  # a bug: logged with its traceback, answered in the shape
                log.exception("unhandled error", path=request.url.path)
                message = "an unexpected error occurred; see the server log"
                return JSONResponse(shapes.error_body(500, [message]), status_code=500)

        return handler


def evolution_router() -> APIRouter:
    """A router of the surface: under ``/evolution``, errors in Evolution's shape."""
    return APIRouter(prefix="/evolution", tags=["evolution"], route_class=EvolutionRoute)


async def evolution_caller(
    request: Request, apikey: Annotated[str | None, Header()] = None
) -> Principal:
    """The ``apikey`` header (a wagate key: the admin key or a tenant's); a bearer token
    works too."""
    services: Services = request.app.state.services
    credential = apikey
    if not credential:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        credential = token.strip() if scheme.lower() == "bearer" else None
    if not credential:
        raise AuthError("Unauthorized")
    caller = await principal_for(services, credential, instance_tokens=True)
    if request.method not in ("GET", "HEAD", "OPTIONS") and not caller.can_write:
        raise Forbidden("a viewer may read but not change anything")
    return caller


CallerDep = Annotated[Principal, Depends(evolution_caller)]


async def load_instance(
    db: DatabaseDep, name: str, caller: Principal, *, fresh: bool = False
) -> Session:
    """The caller's instance by name (or session id), or Evolution's 404; an instance's
    token opens that instance only (401 for another, as in Evolution). ``fresh``: read
    now, not from the short-lived row cache of the hot routes (for its status)."""
    try:
        if fresh:
            async with db.read() as tx:
                row = await sessions.get_session(tx, name, caller.tenant_id)
        else:
            row = await load_session_row(db, name, caller)
    except NotFound:
        raise NotFound(f'The "{name}" instance does not exist') from None
    if caller.session_id is not None and row.id != caller.session_id:
        raise AuthError("Unauthorized")
    return row
