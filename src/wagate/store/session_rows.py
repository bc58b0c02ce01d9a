"""Session rows for the hot routes, read once instead of once per request.

Every send and every simulated inbound message needs its session's row
(tenant, transport, phone, delivery settings). Reading it costs a database
round trip per request, as much as the rest of the request's work. The
:class:`SessionRowCache` keeps rows it read for a short time:

* **exact within this process**: every change to a session row is an ORM
  flush through :meth:`Database.transaction`, which invalidates the row at
  the flush and again after the commit (:meth:`invalidate_flushed`);
* **bounded across processes**: a row changed by another worker (PostgreSQL)
  is seen here at most ``ttl_s`` later (2 s by default): its settings, its
  phone; a session deleted elsewhere answers 404 at most that late (its
  messages are refused by the foreign key meanwhile).

Rows handed out are detached and shared: callers read them, never change them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from wagate.store.models import Session
from wagate.store.repositories import sessions

if TYPE_CHECKING:
    from wagate.store.database import Database


class SessionRowCache:
    def __init__(self, ttl_s: float = 2.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._monotonic = monotonic
        self._rows: dict[tuple[str, str | None], tuple[Session, float]] = {}
        self.hits = 0
        self.misses = 0
        self.generation = 0
        """Bumped by every invalidation: a row read before one is not cached (it may be old)."""

    def get(self, key: str, tenant_id: str | None) -> Session | None:
        """The row cached for (``key``, ``tenant_id``), if still fresh."""
        entry = self._rows.get((key, tenant_id))
        if entry is None or entry[1] <= self._monotonic():
            self.misses += 1
            return None
        self.hits += 1
        return entry[0]

    def put(self, key: str, tenant_id: str | None, row: Session, generation: int) -> None:
        """Cache ``row``, read when :attr:`generation` was ``generation``."""
        if generation != self.generation:
            return
        if len(self._rows) > 10_000:
            self._rows.clear()  # bounded: a fleet's worth of sessions, then start again
        self._rows[(key, tenant_id)] = (row, self._monotonic() + self.ttl_s)

    def invalidate(self, session_ids: Iterable[str]) -> None:
        ids = set(session_ids)
        if not ids:
            return
        self.generation += 1
        for cache_key in [k for k, (row, _) in self._rows.items() if row.id in ids]:
            del self._rows[cache_key]


async def session_row(db: Database, key: str, tenant_id: str | None) -> Session:
    """A session by id (or name, within the tenant) from ``db``'s row cache, read on a miss."""
    cache = db.session_rows
    row = cache.get(key, tenant_id)
    if row is None:
        generation = cache.generation
        async with db.read() as tx:
            row = await sessions.get_session(tx, key, tenant_id)
        cache.put(key, tenant_id, row, generation)
    return row
