"""Put the dashboard on the application: its pages under ``/ui/`` and its assets."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from wagate.domain import WagateError
from wagate.web.access import LoginRequired, to_login
from wagate.web.pages import activity, inbox, login, sessions, simulator, users, webhooks
from wagate.web.templating import STATIC_DIR, render

SWAGGER = "/ui/static/vendor/swagger-ui-5.36.0"


def error_page(request: Request, exc: WagateError) -> Response | None:
    """A dashboard page that fails (a session of another tenant, a page only admins
    see) answers with a page, not the API's JSON."""
    if not request.url.path.startswith("/ui/") or request.headers.get("hx-request"):
        return None
    return render(
        request, "error.html", None, status_code=exc.status_code, code=exc.code, message=exc.message
    )


async def api_console(request: Request) -> Response:
    """FastAPI's Swagger UI with its files from the package, so it works offline."""
    app = request.app
    return get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} API",
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url="/ui/static/favicon.svg",
    )


async def ui_root() -> Response:
    return RedirectResponse("/ui/", status_code=307)


async def login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return to_login(request, exc)


def install(app: FastAPI) -> None:
    """The dashboard's routes on ``app``.

    The handlers are module-level functions, never closures over ``app``: FastAPI
    caches facts about each endpoint callable in process-wide LRU caches, so a
    closure would keep its whole application alive after the app is gone (every
    test builds one).
    """
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    for module in (login, sessions, inbox, webhooks, activity, simulator, users):
        app.include_router(module.router)
    app.add_api_route("/docs", api_console, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ui", ui_root, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(LoginRequired, login_required)
