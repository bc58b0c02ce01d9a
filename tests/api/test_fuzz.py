"""Schemathesis against the running app's /openapi.json: no server error, answers as documented.

The server runs as in production (private URLs refused) with real ids to aim at
(a connected simulator session, a webhook, a message), inside
:func:`tests.support.egress.loopback_only`: whatever URL the fuzzer gives a
webhook, a media send, a brain or an Evolution session, nothing leaves the
machine. Every operation is tried but the live stream (it never ends) and
logging out (it would end the run's session early); bounded in examples and
time, with a fixed seed so a failure replays.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.api.helpers import connected_session
from tests.support.egress import loopback_only
from tests.support.server import ADMIN_KEY, make_settings, running_server

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = 25
SEED = 20261206


async def test_the_fuzzer_finds_no_server_error_and_no_undocumented_answer(
    db_url: str, tmp_path: Path, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(db_url, tmp_path / "data", allow_private_urls=False)
    with loopback_only(monkeypatch):
        async with running_server(settings, clock) as server, server.client() as admin:
            session = await connected_session(server, admin)
            hook = await admin.post("/v1/webhooks", json={"url": "http://192.0.2.1/hook"})
            assert hook.status_code == 422  # a documentation address: not public
            hook = await admin.post("/v1/webhooks", json={"url": "http://8.8.8.8/hook"})
            assert hook.status_code == 201, hook.text
            message = await admin.post(
                f"/v1/sessions/{session['id']}/messages", json={"to": "5511988887777", "text": "x"}
            )
            config = tmp_path / "schemathesis.toml"
            config.write_text(
                "[parameters]\n"
                f'session_id = "{session["id"]}"\n'
                f'webhook_id = "{hook.json()["id"]}"\n'
                f'message_id = "{message.json()["id"]}"\n'
            )
            process = await asyncio.create_subprocess_exec(
                str(SCHEMATHESIS),
                "--config-file",
                str(config),
                "run",
                f"{server.base_url}/openapi.json",
                "--header",
                f"Authorization: Bearer {ADMIN_KEY}",
                "--checks",
                "not_a_server_error,response_schema_conformance",
                "--phases",
                "coverage,fuzzing",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                str(SEED),
                "--request-timeout",
                "10",
                "--exclude-path",
                "/v1/events/stream",
                "--exclude-path-regex",
                ".*/logout$",
                "--no-color",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=tmp_path,
                env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
            )
            output, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    assert "generated" in report
    assert " passed" in report
