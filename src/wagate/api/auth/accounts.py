"""Managing users: what the CLI, the admin API and the setup page share."""

from __future__ import annotations

import re

from wagate.api.auth.passwords import Passwords
from wagate.domain import Clock, InvalidRequest, Role, SetupDone
from wagate.store import Database
from wagate.store.models import User
from wagate.store.repositories import tenants, users

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def check_email(email: str) -> str:
    email = users.normalize_email(email)
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidRequest(f"{email!r} is not an e-mail address", code="invalid_email")
    return email


class Accounts:
    def __init__(self, db: Database, clock: Clock, passwords: Passwords) -> None:
        self.db = db
        self.clock = clock
        self.passwords = passwords

    async def create(
        self, *, email: str, password: str, role: Role, tenant: str | None = None
    ) -> User:
        """``tenant`` by name or id; operators and viewers need one, admins have none."""
        email = check_email(email)
        users.check_role_scope(role, tenant)
        password_hash = await self.passwords.hash(password)
        async with self.db.transaction() as tx:
            tenant_id = (await tenants.get_tenant(tx, tenant)).id if tenant else None
            return await users.create_user(
                tx,
                email=email,
                password_hash=password_hash,
                role=role,
                tenant_id=tenant_id,
                now=self.clock.now(),
            )

    async def create_first_admin(self, *, email: str, password: str) -> User:
        """The setup page's one use: only while no user exists at all (else
        :class:`SetupDone`), decided in the transaction that creates the user."""
        email = check_email(email)
        async with self.db.read() as tx:  # cheap refusal before the slow hash
            if await users.count_users(tx) > 0:
                raise SetupDone("the first user exists already")
        password_hash = await self.passwords.hash(password)
        async with self.db.transaction() as tx:
            return await users.create_first_user(
                tx, email=email, password_hash=password_hash, role=Role.ADMIN, now=self.clock.now()
            )

    async def update(
        self,
        key: str,
        *,
        password: str | None = None,
        role: Role | None = None,
        disabled: bool | None = None,
        tenant_id: str | None = None,
    ) -> list[str]:
        """Change any of password, role (between operator and viewer: an admin has no
        tenant, the others one, so crossing that line is a new user) and state, all or
        nothing. Any change ends the user's open logins, so no token keeps the old state;
        returns their ids."""
        password_hash = await self.passwords.hash(password) if password is not None else None
        now = self.clock.now()
        async with self.db.transaction() as tx:
            user = await users.get_user(tx, key, tenant_id)
            if role is not None:
                users.check_role_scope(role, user.tenant_id)
                user.role = role.value
            if password_hash is not None:
                user.password_hash = password_hash
            if disabled is not None:
                user.disabled_at = (user.disabled_at or now) if disabled else None
            user.updated_at = now
            return await users.revoke_user_logins(tx, user.id, now)

    async def get(self, key: str) -> tuple[User, str | None]:
        """A user by id or e-mail, with their tenant's name."""
        async with self.db.read() as tx:
            user = await users.get_user(tx, key)
            names = await users.tenant_names(tx, {user.tenant_id} if user.tenant_id else set())
        return user, names.get(user.tenant_id) if user.tenant_id else None

    async def list(self, tenant_id: str | None = None) -> list[tuple[User, str | None]]:
        """Users with their tenant's name."""
        async with self.db.read() as tx:
            rows = await users.list_users(tx, tenant_id)
            names = await users.tenant_names(tx, {u.tenant_id for u in rows if u.tenant_id})
        return [(u, names.get(u.tenant_id) if u.tenant_id else None) for u in rows]
