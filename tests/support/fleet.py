"""Two workers on one database, in this process: A runs the sessions made through it,
B answers calls for them (its calls cross to A)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from tests.support.server import RunningServer, make_settings, running_server
from wagate.domain import Clock


@asynccontextmanager
async def two_workers(
    db_url: str,
    tmp_path: Path,
    clock: Clock,
    *,
    both: dict[str, Any] | None = None,
    **b_settings: Any,
) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    """``both``: settings of both workers (e.g. a shared media store); the rest: B's."""
    common = both or {}
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            running_server(
                make_settings(db_url, tmp_path / "a", worker_id="worker-a", **common), clock
            )
        )
        b = await stack.enter_async_context(
            running_server(
                make_settings(db_url, tmp_path / "b", worker_id="worker-b", **common, **b_settings),
                clock,
            )
        )
        yield a, b
