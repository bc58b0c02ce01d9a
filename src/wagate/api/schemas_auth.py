"""Request and response models of logins, tokens and users."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from wagate.domain import Role


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str = Field(description="trade it at /v1/auth/refresh for a new pair")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=200)


class MeOut(BaseModel):
    kind: str = Field(description="'admin_key', 'tenant_key' or 'user'")
    role: Role
    tenant_id: str | None
    user_id: str | None = None
    email: str | None = None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)
    role: Role
    tenant: str | None = Field(
        default=None, description="tenant name or id; required for operator and viewer"
    )


class UserUpdate(BaseModel):
    """``PATCH /v1/admin/users/{id}``: only the fields given change. Any change ends the
    user's open logins."""

    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(default=None, min_length=1, max_length=1024)
    disabled: bool | None = None
    role: Role | None = Field(default=None, description="between operator and viewer")


class UserOut(BaseModel):
    id: str
    email: str
    role: Role
    tenant_id: str | None
    tenant: str | None = Field(description="the tenant's name")
    disabled: bool
    last_login_at: str | None
    created_at: str


class UserList(BaseModel):
    items: list[UserOut]
