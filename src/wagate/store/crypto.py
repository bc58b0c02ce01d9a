"""Secrets at rest (webhook secrets, engine credentials in session configs): sealed
with AES-256-GCM under one key per installation.

The key comes from ``WAGATE_WEBHOOK_SECRET_KEY`` (32 bytes, base64) or, when
that is unset, from ``<data dir>/secret-key``, generated on first start with
mode 0600. Workers that share a database must share the key: a secret sealed
by one cannot be opened by another.

A sealed value is ``v1:<base64(nonce | ciphertext | tag)>`` with a fresh
96-bit nonce per value. The owning row's id (webhook id, session id plus field)
is the associated data, so a sealed secret copied onto another row does not
open there.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wagate.domain import ConfigError

KEY_FILE = "secret-key"
SEALED_PREFIX = "v1:"  # how a sealed value starts
_PREFIX = SEALED_PREFIX
_NONCE_BYTES = 12


class SecretUnreadable(ConfigError):
    """A sealed secret could not be opened: another key sealed it, or it was altered."""

    code = "secret_unreadable"


def decode_key(text: str, where: str) -> bytes:
    """32 bytes from base64 text, or :class:`ConfigError` naming ``where`` it came from."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ConfigError(f"{where}: expected 32 bytes in base64 (openssl rand -base64 32)")
    return key


def load_or_create_key(data_dir: Path, configured: str | None) -> tuple[bytes, bool]:
    """The sealing key: the configured one, the saved one, or a new one saved with mode 0600.

    Returns the key and whether it was created now.
    """
    if configured:
        return decode_key(configured, "WAGATE_WEBHOOK_SECRET_KEY"), False
    path = data_dir / KEY_FILE
    if path.exists():
        return decode_key(path.read_text(), str(path)), False
    key = AESGCM.generate_key(bit_length=256)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
    os.chmod(path, 0o600)
    return key, True


class SecretBox:
    """Seals and opens short secrets, each bound to a context (the webhook id)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._key = key
        self._aead = AESGCM(key)

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose (e.g. signing login tokens), derived from the
        installation key with HKDF, so workers that share the key agree on it and no
        second secret has to be configured."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
            self._key
        )

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return _PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, context: str) -> str:
        if not sealed.startswith(_PREFIX):
            raise SecretUnreadable("not a sealed secret")
        try:
            raw = base64.b64decode(sealed[len(_PREFIX) :], validate=True)
            nonce, body = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            return self._aead.decrypt(nonce, body, context.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretUnreadable(
                "the webhook secret cannot be opened with this key; workers that share a "
                "database need the same WAGATE_WEBHOOK_SECRET_KEY"
            ) from None
