"""The dashboard: server-rendered pages under ``/ui/`` (Jinja2 and htmx, every asset in
the package), a client of the API that shows what it does and calls it for every change,
so a user's role holds in the browser as it does on the API."""

from wagate.web.mount import error_page, install

__all__ = ["error_page", "install"]
