"""Shared fixtures: a database per test on SQLite and on PostgreSQL, clocks, settings.

Every storage-touching test takes the ``db_url`` fixture (or one built on it)
and so runs twice: ``[sqlite]`` and ``[postgresql]``. The PostgreSQL server is
started once per run on loopback (tests/support/postgres.py). When it cannot
be started, the PostgreSQL variants are skipped with the reason, and the run's
summary says so in capitals; set ``WAGATE_TEST_REQUIRE_POSTGRES=1`` (CI does)
to make that an error instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import PostgresServer, PostgresUnavailable
from tests.support.s3 import s3_bucket, s3_endpoint  # noqa: F401  (fixtures)
from tests.support.server import RunningServer, make_settings, running_server
from wagate.domain import FakeClock
from wagate.store import Database

pytest_plugins = ["pytester", "tests.support.stalls"]

_pg_state: dict[str, object] = {}
TEMPLATE_DB = "wagate_template"


def _import_neonize_quietly() -> None:
    """Import neonize once, here, before any test runs, with ``os.popen`` closing its pipe.

    neonize's import runs ``uname -a`` through ``os.popen`` and never closes it: the
    pipe and the process object then linger until some later test starts a subprocess,
    and their ResourceWarnings (errors here) land on that test."""
    import io
    import os

    real_popen = os.popen

    def closing_popen(cmd: str, mode: str = "r", buffering: int = -1) -> io.StringIO:
        with real_popen(cmd, mode, buffering) as stream:  # closing waits for the process
            return io.StringIO(stream.read())

    os.popen = closing_popen  # type: ignore[assignment]
    try:
        import neonize._binder  # noqa: F401
    finally:
        os.popen = real_popen


_import_neonize_quietly()


def _migrate(url: str) -> None:
    async def run() -> None:
        db = Database.connect(url)
        try:
            await db.migrate()
        finally:
            await db.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if os.environ.get("WAGATE_TEST_SKIP_POSTGRES") == "1":
        _pg_state["skip"] = "WAGATE_TEST_SKIP_POSTGRES=1"
        pytest.skip("PostgreSQL disabled by WAGATE_TEST_SKIP_POSTGRES=1")
    if "skip" in _pg_state:
        pytest.skip(str(_pg_state["skip"]))
    try:
        server = PostgresServer()
        server.start()
    except PostgresUnavailable as exc:
        _pg_state["skip"] = str(exc)
        if os.environ.get("WAGATE_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    server.create_database()  # warm up
    server.psql(f"CREATE DATABASE {TEMPLATE_DB}")
    _migrate(server.url(TEMPLATE_DB))
    _pg_state["server"] = server
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database; the test runs once per backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "wagate.db"
        shutil.copyfile(template, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database(template=TEMPLATE_DB)
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database.connect(db_url)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reason = _pg_state.get("skip")
    if reason:
        terminalreporter.write_sep(
            "!", f"POSTGRESQL TESTS WERE SKIPPED: {reason}", red=True, bold=True
        )


@pytest.fixture
async def server(db_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[RunningServer]:
    """A real wagate server on loopback with a FakeClock, on each database."""
    settings = make_settings(db_url, tmp_path / "data")
    async with running_server(settings, clock) as running:
        yield running


@pytest.fixture
async def admin(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as client:
        yield client


@pytest.fixture
async def media_server() -> AsyncIterator[str]:
    """A real HTTP server on loopback serving one document; everything else is 404."""
    from aiohttp import web

    async def document(_: web.Request) -> web.Response:
        return web.Response(body=b"%PDF-1.4 test document", content_type="application/pdf")

    app = web.Application()
    app.router.add_get("/files/report.pdf", document)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()
