"""A stopped application leaves nothing of itself behind in the process.

Every test builds an application. One that a process-wide registry keeps alive
(FastAPI's caches of endpoint callables hold closures; SQLAlchemy's class-level
listeners hold bound methods) keeps its engines and their statement caches too: the
suite's heap then grows for the whole run, and the garbage collector's full passes
grew with it to ten seconds, long enough to fail tests that wait on a timeout.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from tests.support.server import make_settings, running_server
from wagate.domain import FakeClock


async def test_a_stopped_app_is_collected(db_url: str, tmp_path: Path, clock: FakeClock) -> None:
    settings = make_settings(db_url, tmp_path)
    async with running_server(settings, clock) as server, server.client() as client:
        for path in ("/docs", "/ui", "/ui/login", "/v1/sessions", "/openapi.json"):
            assert (await client.get(path)).status_code < 500, path
        async with server.services.db.transaction():  # the write session's listeners
            pass
        services = weakref.ref(server.services)
        database = weakref.ref(server.services.db)
    del server, client
    gc.collect()
    assert services() is None
    assert database() is None
