"""`wagate send-bulk FILE.csv`: a CLI process against a real server, on each database.

The server runs in the test's event loop, so the CLI runs in a thread
(``asyncio.to_thread``) while the loop keeps serving it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.api.helpers import connected_session, create_session
from tests.support.server import ADMIN_KEY, RunningServer, eventually, free_port


def _env(**extra: str) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("WAGATE_")}
    values.update(COLUMNS="200", NO_COLOR="1", **extra)
    return values


async def _wagate(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "wagate", *args],
        env=env or _env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _csv(tmp_path: Path, text: str, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_send_bulk_reports_accepted_and_rejected_rows(
    server: RunningServer, admin: httpx.AsyncClient, media_server: str, tmp_path: Path
) -> None:
    session = await connected_session(server, admin, "demo")
    csv_file = _csv(
        tmp_path,
        "to,text,type,media_url,caption,file_name,idempotency_key,notes\n"  # line 1
        "5511900000001,Hello Ana,,,,,,vip\n"  # line 2
        '+55 11 90000-0002,"Hello, Bruno",text,,,,row-3,\n'  # line 3
        "\n"  # line 4: blank, skipped
        f"5511900000003,,document,{media_server}/files/report.pdf,the report,r.pdf,,\n"  # 5
        "not-a-number,Hello,,,,,,\n"  # line 6
        '5511900000004,"two\nlines",,,,,,\n'  # lines 7-8
        "5511900000001,Hello Ana,,,,,,\n"  # line 9: duplicate of line 2
        "5511900000005,,,,,,,\n",  # line 10: no text
    )
    result = await _wagate(
        "send-bulk",
        str(csv_file),
        "--session",
        "demo",
        "--url",
        server.base_url,
        "--key",
        ADMIN_KEY,
        "--chunk",
        "2",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "accepted: 4 of 7" in out
    assert "rejected: 3" in out
    assert "invalid_destination: 1 (line 6)" in out
    assert "duplicate_message: 1 (line 9)" in out
    assert "validation_error: 1 (line 10)" in out
    assert "ignoring unknown columns: notes" in result.stderr

    async def delivered() -> list[tuple[str, str, str | None]]:
        sent = server.network.sent(session["id"])
        assert len(sent) == 4
        return [(r.to, r.type, r.text) for r in sent]

    records = sorted(await eventually(delivered))
    assert records == [
        ("5511900000001@s.whatsapp.net", "text", "Hello Ana"),
        ("5511900000002@s.whatsapp.net", "text", "Hello, Bruno"),
        ("5511900000003@s.whatsapp.net", "document", "the report"),
        ("5511900000004@s.whatsapp.net", "text", "two\nlines"),
    ]
    keyed = (await admin.get(f"/v1/sessions/{session['id']}/messages")).json()["items"]
    assert any(m["text"] == "Hello, Bruno" for m in keyed)


async def test_send_bulk_finds_url_and_key_in_the_settings(
    server: RunningServer, admin: httpx.AsyncClient, tmp_path: Path
) -> None:
    await create_session(admin, "news", start=False)
    csv_file = _csv(tmp_path, "to,text\n5511900000011,one\n5511900000012,two\n")
    port = server.base_url.rsplit(":", 1)[1]
    env = _env(WAGATE_PORT=port, WAGATE_API_KEY=ADMIN_KEY, WAGATE_DATA_DIR=str(tmp_path / "d"))
    result = await _wagate("send-bulk", str(csv_file), "--session", "news", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "accepted: 2 of 2" in result.stdout
    assert "rejected: 0" in result.stdout
    listed = (await admin.get("/v1/sessions/news/messages")).json()["items"]
    assert sorted(m["text"] for m in listed) == ["one", "two"]

    data_dir = tmp_path / "with-key-file"  # no WAGATE_API_KEY: <data dir>/admin-key
    data_dir.mkdir()
    (data_dir / "admin-key").write_text(ADMIN_KEY + "\n")
    again = _csv(tmp_path, "to,text,idempotency_key\n5511900000013,three,k3\n", "more.csv")
    env = _env(WAGATE_DATA_DIR=str(data_dir))
    result = await _wagate(
        "send-bulk",
        str(again),
        "--session",
        "news",
        "--url",
        server.base_url,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    repeated = await _wagate(
        "send-bulk",
        str(again),
        "--session",
        "news",
        "--url",
        server.base_url,
        cwd=tmp_path,
        env=env,
    )
    assert repeated.returncode == 0, repeated.stderr  # the key replays the first acceptance
    listed = (await admin.get("/v1/sessions/news/messages")).json()["items"]
    assert len(listed) == 3


async def test_send_bulk_usage_and_connection_errors(
    server: RunningServer, admin: httpx.AsyncClient, tmp_path: Path
) -> None:
    await create_session(admin, "demo", start=False)
    good = _csv(tmp_path, "to,text\n5511900000021,hi\n")
    url = ["--url", server.base_url]

    async def fails(*args: str, env: dict[str, str] | None = None) -> str:
        result = await _wagate("send-bulk", *args, cwd=tmp_path, env=env)
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert result.stderr.strip().count("\n") == 0, result.stderr
        return result.stderr

    down = f"http://127.0.0.1:{free_port()}"
    assert "cannot reach" in await fails(
        str(good), "--session", "demo", "--url", down, "--key", "x"
    )
    assert "cannot read" in await fails(
        str(tmp_path / "missing.csv"), "--session", "demo", *url, "--key", ADMIN_KEY
    )
    no_to = _csv(tmp_path, "phone,text\n5511900000021,hi\n", "no-to.csv")
    assert "no 'to' column" in await fails(
        str(no_to), "--session", "demo", *url, "--key", ADMIN_KEY
    )
    assert "not found" in await fails(str(good), "--session", "nope", *url, "--key", ADMIN_KEY)
    assert "API key was refused" in await fails(
        str(good), "--session", "demo", *url, "--key", "wrong"
    )
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    assert "no API key" in await fails(
        str(good), "--session", "demo", *url, env=_env(WAGATE_DATA_DIR=str(empty_dir))
    )
    assert "WAGATE_PORT" in await fails(
        str(good), "--session", "demo", "--key", ADMIN_KEY, env=_env(WAGATE_PORT="http")
    )
    listed = (await admin.get("/v1/sessions/demo/messages")).json()["items"]
    assert listed == []
