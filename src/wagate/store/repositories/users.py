"""Dashboard users and their logins (a browser's cookie, an API client's refresh token)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import Conflict, InvalidRequest, NotFound, Role, SetupDone, new_id
from wagate.store.models import Login, Tenant, User


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_secret(secret: str) -> str:
    """Login secrets are 256-bit random strings: a plain SHA-256 is the right hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role_scope(role: Role, tenant_id: str | None) -> None:
    """Admins see every tenant, so they have none; the other roles act within one."""
    if role is Role.ADMIN and tenant_id is not None:
        raise InvalidRequest("an admin user belongs to no tenant (admins see every tenant)")
    if role is not Role.ADMIN and tenant_id is None:
        article = "an" if role is Role.OPERATOR else "a"
        raise InvalidRequest(f"{article} {role} belongs to a tenant: name one")


async def create_user(
    db: AsyncSession,
    *,
    email: str,
    password_hash: str,
    role: Role,
    tenant_id: str | None,
    now: datetime,
) -> User:
    check_role_scope(role, tenant_id)
    email = normalize_email(email)
    if await find_by_email(db, email) is not None:
        raise Conflict(f"a user with the e-mail {email!r} exists", code="user_exists")
    user = User(
        id=new_id("usr"),
        email=email,
        password_hash=password_hash,
        role=role.value,
        tenant_id=tenant_id,
        created_at=now,
        updated_at=now,
    )
    db.add(user)
    try:
        await db.flush()
    except IntegrityError:  # the same e-mail created at the same moment elsewhere
        raise Conflict(f"a user with the e-mail {email!r} exists", code="user_exists") from None
    return user


async def find_by_email(db: AsyncSession, email: str) -> User | None:
    result = await db.scalars(select(User).where(User.email == normalize_email(email)))
    return result.first()


async def get_user(db: AsyncSession, key: str, tenant_id: str | None = None) -> User:
    """By id or e-mail; within ``tenant_id`` unless it is None (the admin's view)."""
    user = await db.get(User, key) or await find_by_email(db, key)
    if user is None or (tenant_id is not None and user.tenant_id != tenant_id):
        raise NotFound(f"user {key!r} not found")
    return user


async def list_users(db: AsyncSession, tenant_id: str | None = None) -> list[User]:
    query = select(User).order_by(User.created_at, User.id)
    if tenant_id is not None:
        query = query.where(User.tenant_id == tenant_id)
    return list(await db.scalars(query))


async def create_first_user(
    db: AsyncSession, *, email: str, password_hash: str, role: Role, now: datetime
) -> User:
    """The first user, only while there is none: two setups at once make one user.

    SQLite's write transactions already run one at a time. On PostgreSQL two
    transactions could both count no user and both insert, so this one first takes a
    lock on the table that conflicts with itself and with inserts."""
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"))
    if await count_users(db) > 0:
        raise SetupDone("the first user exists already")
    return await create_user(
        db, email=email, password_hash=password_hash, role=role, tenant_id=None, now=now
    )


async def count_users(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(User)) or 0)


async def tenant_names(db: AsyncSession, tenant_ids: set[str]) -> dict[str, str]:
    if not tenant_ids:
        return {}
    rows = await db.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(tenant_ids)))
    return {str(tenant_id): str(name) for tenant_id, name in rows}


@dataclass(frozen=True, slots=True)
class ActiveLogin:
    """A login that is neither revoked nor expired, of a user who is not disabled."""

    login: Login
    user: User


async def create_login(
    db: AsyncSession,
    user: User,
    *,
    kind: str,
    now: datetime,
    ttl: timedelta,
    address: str | None,
    user_agent: str | None,
) -> tuple[Login, str]:
    """A new login and its secret (given to the client once; only its hash is kept)."""
    secret = secrets.token_urlsafe(32)
    login = Login(
        id=new_id("lgn"),
        user_id=user.id,
        kind=kind,
        secret_hash=hash_secret(secret),
        address=address[:64] if address else None,
        user_agent=user_agent[:300] if user_agent else None,
        created_at=now,
        last_used_at=now,
        expires_at=now + ttl,
    )
    db.add(login)
    user.last_login_at = now
    await db.flush()
    return login, secret


async def _active(db: AsyncSession, condition: object, now: datetime) -> ActiveLogin | None:
    row = (
        await db.execute(
            select(Login, User)
            .join(User, User.id == Login.user_id)
            .where(
                condition,  # type: ignore[arg-type]
                Login.revoked_at.is_(None),
                Login.expires_at > now,
                User.disabled_at.is_(None),
            )
        )
    ).first()
    return ActiveLogin(row[0], row[1]) if row is not None else None


async def active_login_by_secret(
    db: AsyncSession, secret: str, now: datetime
) -> ActiveLogin | None:
    return await _active(db, Login.secret_hash == hash_secret(secret), now)


async def active_login(db: AsyncSession, login_id: str, now: datetime) -> ActiveLogin | None:
    return await _active(db, Login.id == login_id, now)


async def rotate_secret(db: AsyncSession, login: Login, now: datetime, ttl: timedelta) -> str:
    """A refresh: the old secret stops working, the login lives ``ttl`` from now."""
    secret = secrets.token_urlsafe(32)
    login.secret_hash = hash_secret(secret)
    login.last_used_at = now
    login.expires_at = now + ttl
    await db.flush()
    return secret


async def revoke_login(db: AsyncSession, login_id: str, now: datetime) -> None:
    await db.execute(
        update(Login).where(Login.id == login_id, Login.revoked_at.is_(None)).values(revoked_at=now)
    )


async def revoke_user_logins(db: AsyncSession, user_id: str, now: datetime) -> list[str]:
    """Revoke every open login of a user; returns their ids (their live streams must end)."""
    ids = list(
        await db.scalars(
            select(Login.id).where(Login.user_id == user_id, Login.revoked_at.is_(None))
        )
    )
    if ids:
        await db.execute(update(Login).where(Login.id.in_(ids)).values(revoked_at=now))
    return ids
