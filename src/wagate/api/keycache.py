"""A short-lived cache of verified tenant keys, so hot routes skip a database read."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T")


class KeyCache(Generic[T]):
    """Entries live ``ttl``; a revoked key stops working within that time."""

    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl = timedelta(seconds=ttl_s)
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[T, datetime]] = {}

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str, now: datetime) -> T | None:
        entry = self._entries.get(self._key(token))
        if entry is None or now - entry[1] > self.ttl:
            return None
        return entry[0]

    def put(self, token: str, value: T, now: datetime) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[self._key(token)] = (value, now)

    def clear(self) -> None:
        self._entries.clear()
