"""Users, passwords, tokens and browser logins: everything that turns a request into a
:class:`~wagate.api.principal.Principal` besides an API key."""

from wagate.api.auth.authenticator import Authenticator, AuthSettings, TokenPair
from wagate.api.auth.csrf import LOGIN_COOKIE, CsrfGuard
from wagate.api.auth.passwords import Passwords, check_password_policy
from wagate.api.auth.throttle import LoginThrottle
from wagate.api.auth.tokens import TokenSigner, looks_like_token

__all__ = [
    "LOGIN_COOKIE",
    "AuthSettings",
    "Authenticator",
    "CsrfGuard",
    "LoginThrottle",
    "Passwords",
    "TokenPair",
    "TokenSigner",
    "check_password_policy",
    "looks_like_token",
]
