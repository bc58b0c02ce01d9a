"""Users (admins only): who may log in, with which role, and disabling them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from wagate.domain import Forbidden
from wagate.store.repositories import tenants
from wagate.web.access import PageUser
from wagate.web.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, user: PageUser) -> HTMLResponse:
    if not user.is_admin:
        raise Forbidden("only admins manage users")
    services = request.app.state.services
    listed = await services.accounts.list()
    async with services.db.read() as tx:
        known = await tenants.list_tenants(tx)
    return render(request, "users.html", user, page="users", users=listed, tenants=known)
