"""The database handle: engines, transactions and migrations for SQLite and PostgreSQL.

SQLite allows one writer at a time. Rather than let writers collide and
retry on ``SQLITE_BUSY``, writes take turns in this process: ORM transactions
go through one connection that begins with ``BEGIN IMMEDIATE``, and the group
commits of the hot paths (:attr:`Database.batches`) run whole in a writer
thread on a connection of their own; an asyncio lock makes the two take
turns. Reads use a separate pool and never wait for writers (WAL). On
PostgreSQL all of them share one pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.pool import ConnectionPoolEntry

from wagate.store.batch import BatchWriter
from wagate.store.models import Session
from wagate.store.session_rows import SessionRowCache

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x77616761  # "waga": one migrator at a time across workers


class Database:
    """Owns the engines. Create with :meth:`connect`, close with :meth:`dispose`."""

    def __init__(
        self, writer: AsyncEngine, reader: AsyncEngine, batch_writer: Engine | None = None
    ) -> None:
        self.writer = writer
        self.reader = reader
        self._batch_engine = batch_writer  # SQLite: the writer thread's own connection
        self._batch_thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="wagate-writer")
            if batch_writer is not None
            else None
        )
        self._write_turns = asyncio.Lock() if batch_writer is not None else None
        # A session class of our own, for the listeners. SQLAlchemy keeps class-level
        # listeners in a process-wide registry: dispose() removes them, or this handle
        # (and its engines and their statement caches) would stay alive.
        write_class = type("WriteSession", (OrmSession,), {})
        self._write_class = write_class
        self._write_sessions = async_sessionmaker(
            writer, expire_on_commit=False, sync_session_class=write_class
        )
        self._read_sessions = async_sessionmaker(reader, expire_on_commit=False)
        self.session_rows = SessionRowCache()
        """Session rows for the hot routes; see :mod:`wagate.store.session_rows`."""
        event.listen(write_class, "after_flush", self._session_rows_flushed)
        event.listen(write_class, "after_commit", self._session_rows_committed)
        self.batches = BatchWriter(self.run_batch)
        """Group commit for the hot write paths (see :mod:`wagate.store.batch`)."""
        self.commits = 0
        """Write transactions committed by this process (``/metrics``, the benchmarks)."""

        for engine in (writer.sync_engine, batch_writer):
            if engine is not None:
                event.listen(engine, "commit", self._count_commit)

    def _count_commit(self, _conn: Connection) -> None:
        self.commits += 1

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        sqlite_synchronous: str = "FULL",
        pool_size: int = 10,
        idle_in_transaction_s: float | None = None,
    ) -> Database:
        """``idle_in_transaction_s`` (PostgreSQL): the server ends a connection that sits
        that long inside a transaction, so a worker frozen mid-transaction (SIGSTOP, a
        stalled VM) does not hold row locks that the rest of the fleet waits for."""
        if url.startswith("sqlite"):
            _ensure_sqlite_dir(url)
            writer = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
            _configure_sqlite(writer, sqlite_synchronous, immediate=True)
            reader = create_async_engine(url, pool_size=4, max_overflow=4)
            _configure_sqlite(reader, sqlite_synchronous, immediate=False)
            batch_writer = create_engine(
                "sqlite://" + url.split("://", 1)[1], pool_size=1, max_overflow=0
            )
            _configure_sqlite_engine(batch_writer, sqlite_synchronous, immediate=True)
            return cls(writer, reader, batch_writer)
        server_settings = {}
        if idle_in_transaction_s is not None:
            timeout_ms = max(1, round(idle_in_transaction_s * 1000))
            server_settings["idle_in_transaction_session_timeout"] = str(timeout_ms)
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            connect_args={"server_settings": server_settings},
        )
        return cls(engine, engine)

    def _session_rows_flushed(self, orm: OrmSession, _context: Any) -> None:
        changed = {
            obj.id for obj in (*orm.new, *orm.dirty, *orm.deleted) if isinstance(obj, Session)
        }
        if changed:
            self.session_rows.invalidate(changed)
            orm.info.setdefault("changed_sessions", set()).update(changed)

    def _session_rows_committed(self, orm: OrmSession) -> None:
        changed = orm.info.pop("changed_sessions", None)
        if changed:  # again: a reader may have cached the old row between flush and commit
            self.session_rows.invalidate(changed)

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _turn(self) -> AbstractAsyncContextManager[Any]:
        """SQLite: wait for this process's other writer to finish (no SQLITE_BUSY waits)."""
        return self._write_turns if self._write_turns is not None else nullcontext()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed when the block ends, rolled back on error.

        Never submit to :attr:`batches` and wait while holding one: on SQLite the
        batch waits for this transaction to end.
        """
        async with self._turn(), self._write_sessions() as session, session.begin():
            yield session

    async def run_batch(self, apply: Callable[[Connection], T]) -> T:
        """Run ``apply(conn)`` in one write transaction, committed before returning.

        On SQLite the whole call runs in the writer thread (one hop from the event
        loop); on PostgreSQL through ``run_sync`` on a pooled connection.
        """
        async with self._turn():
            if self._batch_engine is None or self._batch_thread is None:
                async with self.writer.begin() as conn:
                    return await conn.run_sync(apply)
            engine = self._batch_engine

            def in_thread() -> T:
                with engine.begin() as conn:
                    return apply(conn)

            return await asyncio.get_running_loop().run_in_executor(self._batch_thread, in_thread)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session (a consistent snapshot per statement on PostgreSQL)."""
        async with self._read_sessions() as session:
            yield session

    async def ping(self) -> None:
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with Alembic (safe with several workers)."""
        async with self.writer.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
            await conn.run_sync(_upgrade, revision)

    async def current_revision(self) -> str | None:
        async with self.writer.connect() as conn:
            return await conn.run_sync(_current_revision)

    async def dispose(self) -> None:
        await self.batches.close()
        for name, listener in (
            ("after_flush", self._session_rows_flushed),
            ("after_commit", self._session_rows_committed),
        ):
            if event.contains(self._write_class, name, listener):
                event.remove(self._write_class, name, listener)
        if self._batch_engine is not None and self._batch_thread is not None:
            self._batch_thread.submit(self._batch_engine.dispose).result()
            self._batch_thread.shutdown()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine, synchronous: str, *, immediate: bool) -> None:
    _configure_sqlite_engine(engine.sync_engine, synchronous, immediate=immediate)


def _configure_sqlite_engine(engine: Engine, synchronous: str, *, immediate: bool) -> None:
    """WAL, durability, foreign keys; and BEGIN IMMEDIATE for the writer."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
