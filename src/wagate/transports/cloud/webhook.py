"""Checks for Meta's webhook requests: the subscription handshake and the body signature."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_PREFIX = "sha256="


def verify_signature(body: bytes, header: str | None, app_secret: str) -> bool:
    """Whether ``X-Hub-Signature-256`` is the HMAC-SHA256 of the raw body with the app secret."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest().encode()
    given = header[len(SIGNATURE_PREFIX) :].strip().lower().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected, given)  # bytes: any header value compares, no raise


def verify_challenge(mode: str | None, token: str | None, known_tokens: Iterable[str]) -> bool:
    """Whether a ``GET`` is a subscription handshake with one of the sessions' verify tokens.

    Every candidate is compared in constant time, so the answer's timing tells
    nothing about which token came close.
    """
    if mode != "subscribe" or not token:
        return False
    matched = False
    for known in known_tokens:
        matched |= hmac.compare_digest(token.encode(), known.encode())
    return matched
