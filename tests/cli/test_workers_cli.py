"""``wagate workers``: the fleet as the database knows it."""

from __future__ import annotations

from pathlib import Path

from tests.support.process import wagate_command
from tests.support.server import eventually, make_settings, running_server
from wagate.domain import SystemClock


async def test_the_workers_command_lists_live_and_stopped_workers(
    db_url: str, tmp_path: Path
) -> None:
    async def workers() -> str:
        done = await wagate_command("workers", db_url=db_url, data_dir=tmp_path / "data")
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
