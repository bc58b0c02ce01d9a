"""Who is calling: the admin, a tenant's key, or a user with a role."""

from __future__ import annotations

from dataclasses import dataclass

from wagate.domain import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request.

    ``tenant_id`` None means every tenant (the admin key, an admin user). API keys
    keep their old meaning: the admin key is ``admin``, a tenant key is that
    tenant's ``operator``. Users carry their own role.
    """

    tenant_id: str | None
    role: Role = Role.OPERATOR
    key_id: str | None = None  # the tenant key used, if any
    user_id: str | None = None
    login_id: str | None = None  # the browser or API login a user's token or cookie names
    email: str | None = None
    session_id: str | None = None  # an Evolution instance's token: this session only

    @property
    def is_admin(self) -> bool:
        return self.tenant_id is None and self.role is Role.ADMIN

    @property
    def can_write(self) -> bool:
        return self.role is not Role.VIEWER

    @property
    def credential_id(self) -> str | None:
        """What live streams are counted and ended by: the key, or the user's login."""
        return self.key_id or self.login_id


ADMIN = Principal(tenant_id=None, role=Role.ADMIN)
