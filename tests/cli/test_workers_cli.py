"""``wagate workers``: the fleet as the database knows it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import eventually, make_settings, running_server
from wagate.domain import SystemClock


async def test_the_workers_command_lists_live_and_stopped_workers(
    db_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAGATE_")}
    env |= {
        "WAGATE_DATABASE_URL": db_url,
        "WAGATE_DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }

    async def workers() -> str:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "wagate", "workers"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    settings = make_settings(db_url, tmp_path / "data", worker_id="cli-worker")
    async with running_server(settings, SystemClock()):

        async def listed() -> str:
            out = await workers()
            assert "cli-worker" in out
            return out

        out = await eventually(listed, timeout=30)
        assert "alive" in out
        assert "0/500" in out  # sessions held / capacity
    assert "stopped" in await workers()
