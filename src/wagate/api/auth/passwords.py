"""Password hashing with argon2id (pwdlib), off the event loop."""

from __future__ import annotations

import asyncio

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from wagate.domain import InvalidRequest

MIN_LENGTH = 12
MAX_LENGTH = 1024  # hashing cost grows with the input; nobody types more than this


def check_password_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidRequest(
            f"a password needs at least {MIN_LENGTH} characters", code="weak_password"
        )
    if len(password) > MAX_LENGTH:
        raise InvalidRequest(
            f"a password has at most {MAX_LENGTH} characters", code="weak_password"
        )


class Passwords:
    """Hashes and checks passwords. argon2 takes tens of milliseconds and 64 MiB on
    purpose, so both run in a thread: the event loop keeps serving meanwhile.

    A login for an unknown e-mail still checks against a dummy hash, so the answer
    takes as long as for a known one and does not tell which e-mails exist.
    """

    def __init__(self, hasher: Argon2Hasher | None = None) -> None:
        self._hash = PasswordHash((hasher or Argon2Hasher(),))
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        check_password_policy(password)
        return await asyncio.to_thread(self._hash.hash, password)

    async def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """Whether ``password`` matches, and a new hash when the stored one uses older
        parameters (to be saved on a successful login)."""
        if len(password) > MAX_LENGTH:
            return False, None
        if stored is None:
            if self._dummy is None:
                self._dummy = await asyncio.to_thread(self._hash.hash, "not a password")
            await asyncio.to_thread(self._hash.verify, password, self._dummy)
            return False, None
        return await asyncio.to_thread(self._hash.verify_and_update, password, stored)
