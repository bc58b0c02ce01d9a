"""The databases under test: a SQLite file in a temp dir, or the test suite's PostgreSQL.

A backend gives wagate its ``WAGATE_DATABASE_URL`` and knows how to measure
its own raw commit rate on a separate table (or database), so the baseline
never touches wagate's schema.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.baseline import CommitRate, postgres_commit_rate, sqlite_commit_rate
from benchmarks.plan import Plan

BACKENDS = ("sqlite", "postgresql")

PG_FSYNC_NOTE = (
    "the PostgreSQL server here is the test suite's throwaway one, started with "
    "fsync=off, synchronous_commit=off and full_page_writes=off: its commits never wait "
    "for the disk, so its figures are an upper bound; a production PostgreSQL is durable "
    "and slower per commit"
)


class BackendUnavailable(RuntimeError):
    """This backend cannot run here; the message says why (the run skips it)."""


@dataclass
class Backend:
    name: str
    label: str
    database_url: str
    notes: list[str] = field(default_factory=list)
    _sqlite_baseline_path: Path | None = None
    _pg_baseline_dsn: str | None = None
    _pg_server: Any = None  # tests.support.postgres.PostgresServer

    async def fresh_database_url(self, data_dir: Path) -> str:
        """An empty database for another server (SQLite: a file in ``data_dir``)."""
        if self._pg_server is None:
            return f"sqlite+aiosqlite:///{data_dir / 'wagate.db'}"
        name = await asyncio.to_thread(self._pg_server.create_database)
        return str(self._pg_server.url(name))

    async def commit_rate(self, plan: Plan) -> CommitRate:
        if self._sqlite_baseline_path is not None:
            return await asyncio.to_thread(
                sqlite_commit_rate, self._sqlite_baseline_path, plan.commits, plan.commit_max_s
            )
        assert self._pg_baseline_dsn is not None
        return await postgres_commit_rate(self._pg_baseline_dsn, plan.commits, plan.commit_max_s)


@asynccontextmanager
async def open_backend(name: str, workdir: Path) -> AsyncIterator[Backend]:
    if name == "sqlite":
        # Both files live on the same file system as wagate's data dir (the temp dir).
        yield Backend(
            name="sqlite",
            label="SQLite (WAL, synchronous=FULL)",
            database_url=f"sqlite+aiosqlite:///{workdir / 'data' / 'wagate.db'}",
            _sqlite_baseline_path=workdir / "baseline.db",
        )
        return
    if name != "postgresql":
        raise ValueError(f"unknown backend {name!r}")
    async with _postgres() as backend:
        yield backend


@asynccontextmanager
async def _postgres() -> AsyncIterator[Backend]:
    try:
        from tests.support.postgres import PostgresServer, PostgresUnavailable
    except ImportError as exc:
        raise BackendUnavailable(
            f"tests.support.postgres is not importable ({exc}); run from the repository root"
        ) from None
    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        raise BackendUnavailable(str(exc)) from None
    try:
        try:
            await asyncio.to_thread(server.start)
            baseline_db = await asyncio.to_thread(server.create_database)
            wagate_db = await asyncio.to_thread(server.create_database)
        except (PostgresUnavailable, OSError, RuntimeError) as exc:
            raise BackendUnavailable(str(exc)) from None
        except Exception as exc:  # e.g. psql failing: still a reason to skip, not to crash
            raise BackendUnavailable(f"{type(exc).__name__}: {exc}") from None
        yield Backend(
            name="postgresql",
            label="PostgreSQL (test server, fsync=off)",
            database_url=server.url(wagate_db),
            notes=[PG_FSYNC_NOTE],
            _pg_baseline_dsn=f"postgresql://{server.user}@127.0.0.1:{server.port}/{baseline_db}",
            _pg_server=server,
        )
    finally:
        await asyncio.to_thread(server.stop)
