"""Rendering pages: the Jinja2 environment, its filters, and what every page gets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from wagate import __version__
from wagate.api.principal import Principal

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")  # autoescapes .html


def clock_time(value: str | datetime | None) -> str:
    """``HH:MM`` today's way, with the date when it is not recent; UTC, said once in the
    page footer."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%d %b %H:%M")


def phone(value: str | None) -> str:
    if not value:
        return "—"
    digits = value.split("@")[0].split(":")[0]
    return f"+{digits}" if digits.isdigit() else value


templates.env.filters["clock"] = clock_time
templates.env.filters["phone"] = phone
templates.env.globals["version"] = __version__
templates.env.globals["static_version"] = __version__  # cache-busting query on assets


def render(
    request: Request,
    name: str,
    principal: Principal | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page (or an htmx fragment) with the caller and their CSRF token."""
    csrf = ""
    if principal is not None and principal.login_id is not None:
        csrf = request.app.state.services.csrf.token_for(principal.login_id)
    return templates.TemplateResponse(
        request,
        name,
        {"user": principal, "csrf_token": csrf, **context},
        status_code=status_code,
    )
