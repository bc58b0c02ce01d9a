"""One place where errors become ``{"error": {"code", "message"}}`` responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from wagate.domain import TooManyAttempts, WagateError

log = structlog.get_logger("wagate.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _count(request: Request, code: str) -> None:
    services = getattr(request.app.state, "services", None)
    if services is not None:
        services.metrics.errors.labels(code).inc()


def _describe(errors: list[Any]) -> str:
    parts = []
    for error in errors[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


ErrorPage = Callable[[Request, WagateError], Response | None]
"""Renders an error as a page for the requests it claims (the dashboard's), else None."""


def install_error_handlers(app: FastAPI, *, error_page: ErrorPage | None = None) -> None:
    @app.exception_handler(WagateError)
    async def wagate_error(request: Request, exc: WagateError) -> Response:
        _count(request, exc.code)
        if exc.status_code >= 500:
            log.error("request failed", code=exc.code, error=exc.message, path=request.url.path)
        page = error_page(request, exc) if error_page is not None else None
        if page is not None:
            return page
        headers = {}
        if isinstance(exc, TooManyAttempts):
            headers["retry-after"] = str(exc.retry_after_s)
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            _count(request, "invalid_json")
            return JSONResponse(
                error_body("invalid_json", "the request body is not valid JSON"), status_code=400
            )
        _count(request, "validation_error")
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
            for e in errors
        ]
        return JSONResponse(
            error_body("validation_error", _describe(errors), details=details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        _count(request, code)
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        _count(request, "internal_error")
        log.exception("unhandled error", path=request.url.path)
        return JSONResponse(
            error_body("internal_error", "an unexpected error occurred; see the server log"),
            status_code=500,
        )
