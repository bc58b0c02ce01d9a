"""The ``wagate`` command: serve, migrate, manage tenants and keys, show a QR, send a CSV."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

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
users_app = typer.Typer(help="Dashboard users and their roles.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
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
    tune_interpreter()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    err.print(f"wagate: dashboard at http://{host}:{settings.port}/ui/, API console at /docs")
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        access_log=settings.access_log,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s) + 5,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def tune_interpreter() -> None:
    """Settings of the Python runtime for a server process, each measured (docs/benchmarks.md).

    * The garbage collector's full passes stop the event loop for tens of
      milliseconds once the heap holds the app's objects: the objects made at
      start are frozen out of collection, and collections run less often
      (accept p99 at 32 in flight: 113 ms before, 50 ms after).
    * The GIL switch interval is shortened from 5 ms to 0.5 ms: the database
      writer thread hands each batch to SQLite and must get the GIL back after
      every call; with the default it waited up to 5 ms each time behind a busy
      event loop (accepted messages per second: +30 % when measured).
    """
    gc.freeze()
    gc.set_threshold(20_000, 50, 1_000)
    sys.setswitchinterval(0.0005)


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


def _password(from_stdin: bool) -> str:
    """The password from standard input (one line; for scripts) or typed twice, hidden."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _accounts(db: Any) -> Any:
    from wagate.api.auth import Passwords
    from wagate.api.auth.accounts import Accounts
    from wagate.domain import SystemClock

    return Accounts(db, SystemClock(), Passwords())


@users_app.command("create")
def users_create(
    email: str,
    role: Annotated[str, typer.Option(help="admin, operator or viewer")],
    tenant: Annotated[
        str | None, typer.Option(help="tenant name or id (operator and viewer need one)")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Create a user who logs in to the dashboard or asks for API tokens."""
    from wagate.domain import Role

    try:
        chosen = Role(role)
    except ValueError:
        _fail(f"--role must be admin, operator or viewer, not {role!r}")
    password = _password(password_stdin)

    async def work(db: Any) -> Any:
        return await _accounts(db).create(
            email=email, password=password, role=chosen, tenant=tenant
        )

    user = _run(work)
    console.print(f"user {user.email} created ({user.role}): {user.id}")


@users_app.command("list")
def users_list() -> None:
    """List users with their role, tenant and state."""

    async def work(db: Any) -> Any:
        return await _accounts(db).list()

    table = Table("id", "e-mail", "role", "tenant", "state", "last login")
    for user, tenant in _run(work):
        table.add_row(
            user.id,
            user.email,
            user.role,
            tenant or "(all)",
            "disabled" if user.disabled_at else "active",
            user.last_login_at.isoformat() if user.last_login_at else "",
        )
    console.print(table)


@users_app.command("disable")
def users_disable(
    user: Annotated[str, typer.Argument(help="e-mail or id")],
    enable: Annotated[bool, typer.Option("--enable", help="enable the user again")] = False,
) -> None:
    """Disable a user (their logins end within seconds on every worker), or enable again."""

    async def work(db: Any) -> Any:
        return await _accounts(db).update(user, disabled=not enable)

    _run(work)
    console.print(f"user {user} {'enabled' if enable else 'disabled'}")


@users_app.command("set-password")
def users_set_password(
    user: Annotated[str, typer.Argument(help="e-mail or id")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Set a user's password; their open logins end."""
    password = _password(password_stdin)

    async def work(db: Any) -> Any:
        return await _accounts(db).update(user, password=password)

    _run(work)
    console.print(f"password of {user} changed; their logins have ended")


@app.command("workers")
def workers_list() -> None:
    """The workers sharing the database: live ones first, with what they hold."""

    from wagate.store.repositories import workers

    settings = _settings()

    async def work(db: Any) -> Any:
        async with db.read() as tx:
            return await workers.list_workers(tx, _now(), settings.lease_ttl_s)

    table = Table("id", "host", "pid", "version", "state", "heartbeat", "sessions", "msg/s")
    for view in _run(work):
        row = view.worker
        state = "alive" if view.alive else ("stopped" if row.stopped_at else "silent")
        table.add_row(
            row.id,
            row.host,
            str(row.pid),
            row.version,
            state,
            row.heartbeat_at.isoformat(timespec="seconds"),
            f"{view.sessions}/{row.capacity}",
            f"{row.messages_per_s:g}",
        )
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


# --------------------------------------------------------------------------- send-bulk

BULK_COLUMNS = ("to", "text", "type", "media_url", "caption", "file_name", "idempotency_key")


class _Usage(Exception):
    """A usage or connection problem: one line on stderr, exit code 2."""


def _fail(message: str) -> NoReturn:
    print(f"wagate: {' '.join(message.split())}", file=sys.stderr)
    raise typer.Exit(2)


def _bulk_item(record: dict[str, str]) -> dict[str, Any]:
    """One CSV row as a bulk item; the server validates it."""
    from wagate.domain import MEDIA_TYPES

    kind = (record.get("type") or "").strip().lower() or "text"
    item: dict[str, Any] = {"to": (record.get("to") or "").strip(), "type": kind}
    text = record.get("text") or None
    caption = record.get("caption") or None
    media_url = (record.get("media_url") or "").strip()
    file_name = (record.get("file_name") or "").strip()
    if kind in {t.value for t in MEDIA_TYPES}:
        media: dict[str, Any] = {}
        if media_url:
            media["url"] = media_url
        if caption or text:
            media["caption"] = caption or text
        if file_name:
            media["file_name"] = file_name
        item["media"] = media
    elif text is not None:
        item["text"] = text
    key = (record.get("idempotency_key") or "").strip()
    if key:
        item["idempotency_key"] = key
    return item


def _read_bulk_csv(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, bulk item) for every non-empty row of the CSV."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise _Usage(f"{path} is empty; expected a header line with a 'to' column")
            names = [name.strip().lower() for name in header]
            if "to" not in names:
                raise _Usage(
                    f"{path} has no 'to' column; the header may name: {', '.join(BULK_COLUMNS)}"
                )
            unknown = [name for name in names if name and name not in BULK_COLUMNS]
            if unknown:
                err.print(
                    f"wagate: ignoring unknown columns: {', '.join(unknown)}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
            rows: list[tuple[int, dict[str, Any]]] = []
            while True:
                line = reader.line_num + 1
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    raise _Usage(f"{path}:{reader.line_num}: {exc}") from None
                if not any(value.strip() for value in values):
                    continue
                record = {
                    name: value
                    for name, value in zip(names, values, strict=False)
                    if name in BULK_COLUMNS
                }
                rows.append((line, _bulk_item(record)))
            return rows
    except OSError as exc:
        raise _Usage(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise _Usage(f"{path} is not UTF-8 text") from None


def _bulk_target(url: str | None, key: str | None) -> tuple[str, str]:
    """The server URL and the API key: given, or from the settings and the data dir."""
    if url and key:
        return url, key
    settings = _settings()
    if not url:
        host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        url = f"http://{'[' + host + ']' if ':' in host else host}:{settings.port}"
    if not key:
        if settings.api_key is not None:
            key = settings.api_key.get_secret_value()
        else:
            from wagate.bootstrap import ADMIN_KEY_FILE

            key_file = settings.data_dir / ADMIN_KEY_FILE
            try:
                key = key_file.read_text().strip()
            except OSError:
                key = ""
            if not key:
                raise _Usage(f"no API key: pass --key, set WAGATE_API_KEY, or create {key_file}")
    return url, key


def _http_problem(response: Any, session: str) -> str:
    try:
        error = response.json()["error"]
        detail = f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        detail = response.text[:200].strip() or response.reason_phrase
    if response.status_code == 401:
        return f"the API key was refused ({detail})"
    if response.status_code == 404:
        return f"session {session!r} not found ({detail})"
    return f"the server answered {response.status_code} ({detail})"


@app.command("send-bulk")
def send_bulk(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header line. Columns: to (required), text, type (default text), "
            "media_url, caption, file_name, idempotency_key.",
            show_default=False,
        ),
    ],
    session: Annotated[str, typer.Option("--session", help="the session's name or id")],
    url: Annotated[
        str | None,
        typer.Option(help="wagate's URL  [default: http://127.0.0.1:8000, from WAGATE_PORT]"),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(help="API key  [default: WAGATE_API_KEY, else <data dir>/admin-key]"),
    ] = None,
    chunk: Annotated[
        int, typer.Option(min=1, max=1000, help="messages per request to the bulk route")
    ] = 100,
) -> None:
    """Queue every row of a CSV file as a message, through POST .../messages/bulk.

    Prints a summary: accepted rows, and rejected rows by error code with their
    line numbers. Exit code 0 when every row was accepted, 1 when some were
    rejected, 2 on a usage or connection error.
    """
    from collections import defaultdict
    from urllib.parse import quote

    import httpx
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    try:
        rows = _read_bulk_csv(file)
        base_url, api_key = _bulk_target(url, key)
    except _Usage as exc:
        _fail(str(exc))
    path = f"/v1/sessions/{quote(session, safe='')}/messages/bulk"
    accepted = 0
    rejected: dict[str, list[tuple[int, str]]] = defaultdict(list)
    done = 0

    def so_far() -> str:
        return f"; {accepted} of the first {done} rows were accepted before that" if done else ""

    progress = Progress(
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    with (
        httpx.Client(
            base_url=base_url,
            headers={"authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(300.0, connect=10.0),
        ) as client,
        progress,
    ):
        task = progress.add_task("sending", total=len(rows))
        for start in range(0, len(rows), chunk):
            batch = rows[start : start + chunk]
            try:
                response = client.post(path, json={"messages": [item for _, item in batch]})
            except httpx.HTTPError as exc:
                progress.stop()
                detail = str(exc) or type(exc).__name__
                if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                    _fail(f"cannot reach {base_url}: {detail}{so_far()}")
                _fail(f"the request to {base_url} failed: {detail}{so_far()}")
            if response.status_code != 200:
                progress.stop()
                _fail(_http_problem(response, session) + so_far())
            try:
                results = response.json()["items"]
            except (ValueError, KeyError, TypeError):
                results = None
            if not isinstance(results, list) or len(results) != len(batch):
                progress.stop()
                _fail(f"unexpected answer from {base_url}{path}{so_far()}")
            for (line, _), result in zip(batch, results, strict=True):
                if result.get("status") == 202:
                    accepted += 1
                else:
                    error = result.get("error") or {}
                    code = str(error.get("code") or f"http_{result.get('status')}")
                    rejected[code].append((line, str(error.get("message") or "")))
            done += len(batch)
            progress.advance(task, len(batch))

    total_rejected = sum(len(lines) for lines in rejected.values())
    console.print(
        f"accepted: {accepted} of {len(rows)}", markup=False, highlight=False, soft_wrap=True
    )
    console.print(f"rejected: {total_rejected}", markup=False, highlight=False, soft_wrap=True)
    for code, entries in sorted(rejected.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines = [str(line) for line, _ in entries]
        shown = ", ".join(lines[:50]) + (
            f", ... ({len(lines) - 50} more)" if len(lines) > 50 else ""
        )
        label = "line" if len(lines) == 1 else "lines"
        console.print(
            f"  {code}: {len(lines)} ({label} {shown})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if 0 < total_rejected <= 20:
        details = sorted(
            (line, code, message) for code, e in rejected.items() for line, message in e
        )
        for line, code, message in details:
            console.print(
                f"  line {line}: {code}: {message}", markup=False, highlight=False, soft_wrap=True
            )
    raise typer.Exit(1 if total_rejected else 0)


def main() -> None:
    app()
