"""Identifiers wagate mints: sortable, URL-safe, with a prefix that says what they name."""

from __future__ import annotations

import os
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _b32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """``<prefix>_<26 chars>``: 48-bit millisecond time then 80 random bits (a ULID)."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{_b32(millis, 10)}{_b32(int.from_bytes(os.urandom(10), 'big'), 16)}"


def new_wa_message_id() -> str:
    """A WhatsApp message id in the shape WhatsApp Web uses (``3EB0`` + 16 hex digits)."""
    return "3EB0" + secrets.token_hex(8).upper()


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
