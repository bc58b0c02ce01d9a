"""Dashboard users (admin only): create, list, change password, role or state."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status

from wagate.api.auth.accounts import Accounts
from wagate.api.deps import AdminDep, AuthenticatorDep
from wagate.api.schemas_auth import UserCreate, UserList, UserOut, UserUpdate
from wagate.store.models import User
from wagate.store.serialize import iso

router = APIRouter(prefix="/v1/admin/users", tags=["admin"])


async def get_accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.services.accounts
    return accounts


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


def user_json(user: User, tenant: str | None) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "tenant_id": user.tenant_id,
        "tenant": tenant,
        "disabled": user.disabled_at is not None,
        "last_login_at": iso(user.last_login_at),
        "created_at": iso(user.created_at),
    }


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def create_user(body: UserCreate, accounts: AccountsDep, _: AdminDep) -> Any:
    """An ``admin`` has no tenant; an ``operator`` or ``viewer`` needs one. The password
    needs at least 12 characters (422 ``weak_password``)."""
    user = await accounts.create(
        email=body.email, password=body.password, role=body.role, tenant=body.tenant
    )
    return user_json(*await accounts.get(user.id))


@router.get("", response_model=UserList)
async def list_users(accounts: AccountsDep, _: AdminDep) -> Any:
    return {"items": [user_json(u, t) for u, t in await accounts.list()]}


@router.patch("/{user_id}", response_model=UserOut)
async def update_user(
    user_id: str, body: UserUpdate, accounts: AccountsDep, auth: AuthenticatorDep, _: AdminDep
) -> Any:
    """Change a password, a role (operator or viewer) or disable a user; every change
    ends the user's open logins, so nothing keeps working with the old state."""
    ended = await accounts.update(
        user_id, password=body.password, role=body.role, disabled=body.disabled
    )
    if ended:
        auth.forget(ended)
    return user_json(*await accounts.get(user_id))
