"""Short-lived access tokens: JWTs (HS256, PyJWT) that name the user and their login.

The token carries no role: the role is read from the user on use (cached a few
seconds), so a demoted or disabled user loses access without waiting for the
token to expire. Expiry is checked against wagate's clock, not the wall clock,
so tests drive it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jwt

from wagate.domain import AuthError, Clock, new_secret

ALGORITHM = "HS256"
ISSUER = "wagate"
AUDIENCE = "wagate-api"


def looks_like_token(credential: str) -> bool:
    """JWTs are three base64url parts starting with an encoded ``{"``; keys are not."""
    return credential.startswith("eyJ") and credential.count(".") == 2


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    login_id: str


class TokenSigner:
    def __init__(self, key: bytes, clock: Clock, ttl_s: int) -> None:
        self._key = key
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_s)

    def issue(self, user_id: str, login_id: str) -> tuple[str, int]:
        """The token and its lifetime in seconds."""
        now = self.clock.now()
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user_id,
            "sid": login_id,
            "iat": int(now.timestamp()),
            "exp": int((now + self.ttl).timestamp()),
            "jti": new_secret(9),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), int(self.ttl.total_seconds())

    def verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={
                    "verify_exp": False,  # checked below against the injected clock
                    "verify_iat": False,
                    "require": ["exp", "sub", "sid", "iss", "aud"],
                },
            )
        except jwt.InvalidTokenError:
            raise AuthError("the token is not valid") from None
        if int(claims["exp"]) <= self.clock.now().timestamp():
            raise AuthError("the token has expired: refresh it or log in again")
        return AccessClaims(user_id=str(claims["sub"]), login_id=str(claims["sid"]))
