"""Bulk send: many outbound messages in one request, each accepted or refused on its own."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wagate.api.deps import PrincipalDep, ServicesDep
from wagate.api.routes.sessions import load_session_row
from wagate.api.schemas import ErrorDetail, ErrorResponse, MessageOut
from wagate.domain import InvalidRequest, OutboundMessageRequest, WagateError

log = structlog.get_logger("wagate.api")
router = APIRouter(tags=["messages"])

MAX_BULK = 1000
MAX_KEY_LENGTH = 255


class BulkSendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[Any] = Field(
        min_length=1,
        max_length=MAX_BULK,
        description="outbound messages (the body of POST /v1/sessions/{id}/messages), each "
        "with an optional `idempotency_key`; an invalid item is refused on its own",
    )


class BulkItemOut(BaseModel):
    index: int = Field(description="position of the item in `messages`, from 0")
    status: int = Field(description="202 accepted, or the HTTP status a single send would get")
    replayed: bool = Field(default=False, description="accepted earlier with the same key")
    message: MessageOut | None = None
    error: ErrorDetail | None = None


class BulkSendResponse(BaseModel):
    items: list[BulkItemOut]
    accepted: int
    rejected: int


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)


def parse_item(raw: Any) -> tuple[OutboundMessageRequest, str | None]:
    """One bulk item as (request, idempotency key); 422 ``validation_error`` when invalid."""
    if not isinstance(raw, dict):
        raise InvalidRequest("each item must be a JSON object", code="validation_error")
    body = dict(raw)
    key = body.pop("idempotency_key", None)
    if key is not None and (not isinstance(key, str) or len(key) > MAX_KEY_LENGTH):
        raise InvalidRequest(
            f"idempotency_key: expected a string of at most {MAX_KEY_LENGTH} characters",
            code="validation_error",
        )
    try:
        request = OutboundMessageRequest.model_validate(body)
    except ValidationError as exc:
        raise InvalidRequest(_describe(exc), code="validation_error") from None
    return request, key or None


def _error(index: int, status: int, code: str, message: str) -> dict[str, Any]:
    return {
        "index": index,
        "status": status,
        "replayed": False,
        "message": None,
        "error": {"code": code, "message": message},
    }


@router.post(
    "/v1/sessions/{session_id}/messages/bulk",
    response_model=BulkSendResponse,
    responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
async def send_bulk(
    session_id: str, body: BulkSendRequest, services: ServicesDep, principal: PrincipalDep
) -> Any:
    """Queue up to 1000 messages; each item is validated, deduplicated and guarded on its own.

    Items are accepted in order (so messages to one chat keep their order).
    The answer is 200 with one result per item: `status` 202 and the queued
    `message`, or the status and `error` that a single send would have got
    (422 `validation_error`, 409 `duplicate_message`, 422 `recipient_opted_out`,
    422 `idempotency_key_reused`, 409 `idempotency_key_in_flight`, ...). An item's
    `idempotency_key` works like the `Idempotency-Key` header of a single send.
    """
    session = await load_session_row(services.db, session_id, principal)
    parsed: list[tuple[OutboundMessageRequest, str | None] | Exception] = []
    for raw in body.messages:
        try:
            parsed.append(parse_item(raw))
        except WagateError as exc:
            parsed.append(exc)
    outcomes = await services.acceptor.accept_many(session, parsed)
    items: list[dict[str, Any]] = []
    created = 0
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, WagateError):
            services.metrics.errors.labels(outcome.code).inc()
            items.append(_error(index, outcome.status_code, outcome.code, outcome.message))
            continue
        if isinstance(outcome, Exception):
            log.error("bulk item failed", session_id=session.id, index=index, error=repr(outcome))
            services.metrics.errors.labels("internal_error").inc()
            items.append(
                _error(index, 500, "internal_error", "an unexpected error occurred; see the log")
            )
            continue
        created += outcome.created
        items.append(
            {
                "index": index,
                "status": 202,
                "replayed": not outcome.created,
                "message": outcome.json,
                "error": None,
            }
        )
    if created:
        services.outbox.wake(session.id)
    accepted = sum(1 for item in items if item["status"] == 202)
    return JSONResponse(
        {"items": items, "accepted": accepted, "rejected": len(items) - accepted},
        status_code=200,
    )
