"""``wagate users``: create, list, set-password, disable; then log in with what they made."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.process import wagate_command
from tests.support.server import make_settings, running_server
from tests.support.users import PASSWORD, login
from wagate.domain import FakeClock


async def test_users_made_on_the_command_line_log_in_with_their_role(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    async def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return await wagate_command(*args, db_url=db_url, data_dir=tmp_path / "data", stdin=stdin)

    made = await run(
        "users",
        "create",
        "Boss@Example.test",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    assert "boss@example.test created (admin)" in made.stdout
    await run("tenants", "create", "acme")
    viewer = await run(
        "users",
        "create",
        "look@acme.test",
        "--role",
        "viewer",
        "--tenant",
        "acme",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert viewer.returncode == 0, viewer.stderr

    weak = await run(
        "users",
        "create",
        "x@acme.test",
        "--role",
        "viewer",
        "--tenant",
        "acme",
        "--password-stdin",
        stdin="short\n",
    )
    assert weak.returncode == 1
    assert "at least 12 characters" in weak.stderr
    no_tenant = await run(
        "users",
        "create",
        "y@acme.test",
        "--role",
        "operator",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert no_tenant.returncode == 1
    assert "belongs to a tenant" in no_tenant.stderr
    bad_role = await run(
        "users",
        "create",
        "z@acme.test",
        "--role",
        "owner",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert bad_role.returncode != 0
    assert "admin, operator or viewer" in bad_role.stderr

    listed = await run("users", "list")
    assert listed.returncode == 0, listed.stderr
    assert "boss@example.test" in listed.stdout
    assert "look@acme.test" in listed.stdout
    assert "acme" in listed.stdout

    changed = await run(
        "users",
        "set-password",
        "look@acme.test",
        "--password-stdin",
        stdin="a brand new passphrase\n",
    )
    assert changed.returncode == 0, changed.stderr
    disabled = await run("users", "disable", "boss@example.test")
    assert disabled.returncode == 0, disabled.stderr

    settings = make_settings(db_url, tmp_path / "data")
    async with running_server(settings, clock) as server, server.client(None) as anonymous:
        assert (await login(anonymous, "boss@example.test")).status_code == 401
        assert (await login(anonymous, "look@acme.test")).status_code == 401
        token = await login(anonymous, "look@acme.test", "a brand new passphrase")
        assert token.status_code == 200
        async with server.client(token.json()["access_token"]) as viewer_client:
            me = (await viewer_client.get("/v1/auth/me")).json()
            assert me["role"] == "viewer"

    enabled = await run("users", "disable", "boss@example.test", "--enable")
    assert enabled.returncode == 0, enabled.stderr
    async with running_server(settings, clock) as server, server.client(None) as anonymous:
        assert (await login(anonymous, "boss@example.test")).status_code == 200
