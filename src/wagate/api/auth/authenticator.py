"""Logins and the principals they give: password to login, login to tokens or a cookie,
token or cookie back to a principal on every request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from wagate.api.auth.passwords import Passwords
from wagate.api.auth.throttle import LoginThrottle
from wagate.api.auth.tokens import TokenSigner
from wagate.api.keycache import KeyCache
from wagate.api.principal import Principal
from wagate.domain import AuthError, Clock, InvalidCredentials, Role
from wagate.store import Database
from wagate.store.models import Login, User
from wagate.store.repositories import users

BROWSER = "browser"
API = "api"


@dataclass(frozen=True, slots=True)
class AuthSettings:
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 86_400
    browser_login_ttl_s: int = 12 * 3_600


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str


def principal_of(user: User, login: Login) -> Principal:
    return Principal(
        tenant_id=user.tenant_id,
        role=Role(user.role),
        user_id=user.id,
        login_id=login.id,
        email=user.email,
    )


class Authenticator:
    """Verified principals are cached for a few seconds (like tenant keys), so a
    logout, a disabled user or a changed role takes effect at once on this worker
    and within that time on the others."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        passwords: Passwords,
        signer: TokenSigner,
        throttle: LoginThrottle,
        settings: AuthSettings,
        on_logins_ended: Callable[[list[str]], None] = lambda ids: None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.passwords = passwords
        self.signer = signer
        self.throttle = throttle
        self.settings = settings
        self.on_logins_ended = on_logins_ended
        self._cache: KeyCache[Principal] = KeyCache()

    async def login(
        self,
        email: str,
        password: str,
        *,
        kind: str,
        address: str | None,
        user_agent: str | None,
    ) -> tuple[Principal, str]:
        """Check the password (throttled per account and address) and open a login;
        returns its principal and secret (the cookie, or the refresh token)."""
        keys = [f"account:{users.normalize_email(email)}", f"address:{address or '?'}"]
        self.throttle.check(keys)
        async with self.db.read() as tx:
            user = await users.find_by_email(tx, email)
        ok, new_hash = await self.passwords.verify(password, user.password_hash if user else None)
        if user is None or not ok or user.disabled_at is not None:
            self.throttle.failed(keys)
            raise InvalidCredentials("wrong e-mail or password, or the user is disabled")
        self.throttle.succeeded(keys[0])
        ttl = self.settings.browser_login_ttl_s if kind == BROWSER else None
        ttl = ttl or self.settings.refresh_token_ttl_s
        now = self.clock.now()
        async with self.db.transaction() as tx:
            user = await users.get_user(tx, user.id)
            if new_hash is not None:
                user.password_hash = new_hash
            login, secret = await users.create_login(
                tx,
                user,
                kind=kind,
                now=now,
                ttl=timedelta(seconds=ttl),
                address=address,
                user_agent=user_agent,
            )
        return principal_of(user, login), secret

    def tokens(self, principal: Principal, refresh_token: str) -> TokenPair:
        assert principal.user_id is not None
        assert principal.login_id is not None
        access, expires_in = self.signer.issue(principal.user_id, principal.login_id)
        return TokenPair(access, expires_in, refresh_token)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """A new access token and a new refresh token; the old refresh token stops working."""
        now = self.clock.now()
        async with self.db.transaction() as tx:
            active = await users.active_login_by_secret(tx, refresh_token, now)
            if active is None or active.login.kind != API:
                raise AuthError("the refresh token is not valid (expired, used or logged out)")
            secret = await users.rotate_secret(
                tx, active.login, now, timedelta(seconds=self.settings.refresh_token_ttl_s)
            )
        return self.tokens(principal_of(active.user, active.login), secret)

    async def from_access_token(self, token: str) -> Principal:
        claims = self.signer.verify(token)
        return await self._principal(f"login:{claims.login_id}", login_id=claims.login_id)

    async def from_cookie(self, secret: str) -> Principal:
        return await self._principal(f"cookie:{secret}", secret=secret)

    async def _principal(
        self, cache_key: str, *, login_id: str | None = None, secret: str | None = None
    ) -> Principal:
        now = self.clock.now()
        cached = self._cache.get(cache_key, now)
        if cached is not None:
            return cached
        async with self.db.read() as tx:
            if secret is not None:
                active = await users.active_login_by_secret(tx, secret, now)
                if active is not None and active.login.kind != BROWSER:
                    active = None
            else:
                assert login_id is not None
                active = await users.active_login(tx, login_id, now)
        if active is None:
            raise AuthError("the login has ended (logged out, expired or the user disabled)")
        principal = principal_of(active.user, active.login)
        self._cache.put(cache_key, principal, now)
        return principal

    async def still_active(self, login_id: str) -> bool:
        async with self.db.read() as tx:
            return await users.active_login(tx, login_id, self.clock.now()) is not None

    async def logout(self, login_id: str) -> None:
        async with self.db.transaction() as tx:
            await users.revoke_login(tx, login_id, self.clock.now())
        self.forget([login_id])

    def forget(self, login_ids: list[str]) -> None:
        """Logins ended (logout, user disabled or changed): drop what this worker cached
        and end their live streams."""
        self._cache.clear()
        self.on_logins_ended(login_ids)
