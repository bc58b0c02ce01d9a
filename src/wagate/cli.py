"""The ``wagate`` command: serve, migrate, manage tenants and keys, show a session's QR."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from wagate.config import Settings, load_settings
from wagate.domain import ConfigError, WagateError

app = typer.Typer(
    help="wagate: a self-hosted WhatsApp gateway.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="API keys of tenants.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants.", no_args_is_help=True)
sessions_app = typer.Typer(help="Sessions.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(tenants_app, name="tenants")
app.add_typer(sessions_app, name="sessions")

console = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"wagate: {exc.message}", file=sys.stderr)
        raise typer.Exit(2) from None


def _run(work: Callable[[Any], Awaitable[T]]) -> T:
    """Open the database (migrating it), run ``work(db)``, close it."""
    from wagate.store import Database

    settings = _settings()

    async def main() -> T:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database.connect(
            settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        try:
            await db.migrate()
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except WagateError as exc:
        print(f"wagate: {exc.message}", file=sys.stderr)
        raise typer.Exit(1) from None


def _now() -> datetime:
    return datetime.now(UTC)


@app.command()
def serve() -> None:
    """Run the API, the workers and the simulator in this process."""
    import uvicorn

    from wagate.app import create_app

    settings = _settings()
    application = create_app(settings)
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        access_log=settings.access_log,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s) + 5,
    )


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (also done on every start)."""

    async def work(db: Any) -> str | None:
        revision: str | None = await db.current_revision()
        return revision

    revision = _run(work)
    console.print(f"database is at revision {revision}")


@app.command("config-docs")
def config_docs() -> None:
    """Print the configuration table (docs/configuration.md) generated from the settings."""
    from wagate.configdoc import render_configuration_doc

    sys.stdout.write(render_configuration_doc())


@tenants_app.command("create")
def tenants_create(name: str) -> None:
    """Create a tenant."""
    from wagate.store.repositories import tenants

    async def work(db: Any) -> Any:
        async with db.transaction() as tx:
            return await tenants.create_tenant(tx, name, _now())

    tenant = _run(work)
    console.print(f"tenant {tenant.name} created: {tenant.id}")


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants."""
    from wagate.store.repositories import tenants

    async def work(db: Any) -> Any:
        async with db.read() as tx:
            return await tenants.list_tenants(tx)

    table = Table("id", "name", "created")
    for tenant in _run(work):
        table.add_row(tenant.id, tenant.name, tenant.created_at.isoformat())
    console.print(table)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="tenant name or id; created if it does not exist")],
    name: Annotated[str, typer.Option(help="a label for the key")] = "default",
) -> None:
    """Create an API key for a tenant and print it (shown only once)."""
    from wagate.store.repositories import tenants

    async def work(db: Any) -> tuple[Any, str]:
        async with db.transaction() as tx:
            try:
                owner = await tenants.get_tenant(tx, tenant)
            except WagateError:
                owner = await tenants.create_tenant(tx, tenant, _now())
            return await tenants.create_api_key(tx, owner.id, name, _now())

    key, plaintext = _run(work)
    err.print(f"API key {key.id} for tenant {tenant} (store it now; it is not shown again):")
    print(plaintext)


@keys_app.command("list")
def keys_list(tenant: Annotated[str | None, typer.Option(help="only this tenant")] = None) -> None:
    """List API keys (prefixes only)."""
    from wagate.store.repositories import tenants

    async def work(db: Any) -> Any:
        async with db.read() as tx:
            tenant_id = (await tenants.get_tenant(tx, tenant)).id if tenant else None
            return await tenants.list_api_keys(tx, tenant_id)

    table = Table("id", "tenant", "name", "prefix", "created", "revoked")
    for key in _run(work):
        table.add_row(
            key.id,
            key.tenant_id,
            key.name,
            key.prefix + "...",
            key.created_at.isoformat(),
            key.revoked_at.isoformat() if key.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key."""
    from wagate.store.repositories import tenants

    async def work(db: Any) -> Any:
        async with db.transaction() as tx:
            return await tenants.revoke_api_key(tx, key_id, _now())

    _run(work)
    console.print(f"key {key_id} revoked")


@sessions_app.command("list")
def sessions_list() -> None:
    """List every session with its status."""
    from wagate.store.repositories import sessions

    async def work(db: Any) -> Any:
        async with db.read() as tx:
            return await sessions.list_sessions(tx, None)

    table = Table("id", "name", "tenant", "transport", "status", "phone")
    for row in _run(work):
        table.add_row(row.id, row.name, row.tenant_id, row.transport, row.status, row.phone or "")
    console.print(table)


@sessions_app.command("qr")
def sessions_qr(
    name: str,
    follow: Annotated[bool, typer.Option(help="keep showing new codes until connected")] = False,
) -> None:
    """Print the session's current QR code in the terminal, to scan with WhatsApp.

    The session must be running (``wagate serve``) and waiting for a scan.
    """
    import segno

    from wagate.store.repositories import sessions

    async def work(db: Any) -> Any:
        async with db.read() as tx:
            return await sessions.get_session(tx, name, None)

    shown: str | None = None
    while True:
        row = _run(work)
        if row.status == "connected":
            console.print(f"session {row.name} is connected as +{row.phone}")
            return
        if row.status != "qr" or not row.qr or (row.qr_expires_at and row.qr_expires_at <= _now()):
            if not follow:
                err.print(f"session {row.name} is {row.status}, not waiting for a QR scan")
                raise typer.Exit(1)
        elif row.qr != shown:
            shown = row.qr
            segno.make(row.qr, error="l").terminal(compact=True)
            console.print(f"scan with WhatsApp > Linked devices; expires at {row.qr_expires_at}")
            if not follow:
                return
        time.sleep(1)


def main() -> None:
    app()
