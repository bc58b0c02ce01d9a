"""The installable package: the wheel built from this checkout, installed with
``uv tool install`` into a directory of its own (as a user installs it, outside the
repository's virtual environment), serves: the API, the migrations, the dashboard's
templates and vendored assets, and a simulator session.

It runs on every supported Python found on the machine: 3.11 always; 3.12 and 3.13
where an interpreter exists (pyenv's, or on PATH), and says which were skipped.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.process import ServerProcess, server_env, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # builds an image; installs a wheel

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "wga_wheel_test_key_0123456789abcdef"
PYTHONS = ("3.11", "3.12", "3.13")


def _uv() -> str:
    found = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    if not Path(found).exists():
        pytest.skip("uv is not installed (make bootstrap installs it)")
    return found


def _python(version: str) -> str | None:
    """An interpreter of this minor version, or None."""
    if sys.version_info[:2] == tuple(int(part) for part in version.split(".")):
        return sys.executable
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(
        glob.glob(f"{Path.home()}/.pyenv/versions/{version}.*/bin/python{version}")
    )
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for path in candidates:
        if path and Path(path).exists():
            probe = subprocess.run([path, "--version"], capture_output=True, text=True)
            if probe.returncode == 0 and probe.stdout.split()[-1].startswith(version):
                return path
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [_uv(), "build", "--wheel", "--out-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("wagate-*.whl")
    return built


@pytest.mark.parametrize("version", PYTHONS)
async def test_the_wheel_installs_as_a_tool_and_serves(
    version: str, wheel: Path, tmp_path: Path
) -> None:
    python = _python(version)
    if python is None:
        if version == "3.11":
            pytest.fail("Python 3.11 must be here")
        pytest.skip(f"no Python {version} interpreter on this machine")
    tools, bin_dir = tmp_path / "tools", tmp_path / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "WAGATE_"))}
    env |= {"UV_TOOL_DIR": str(tools), "UV_TOOL_BIN_DIR": str(bin_dir)}
    installed = await asyncio.to_thread(
        subprocess.run,
        [_uv(), "tool", "install", "--compile-bytecode", "--python", python, str(wheel)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr
    wagate = bin_dir / "wagate"
    assert wagate.exists()
    runs_on = await asyncio.to_thread(
        subprocess.run,
        [str(tools / "wagate" / "bin" / "python"), "--version"],
        capture_output=True,
        text=True,
    )
    assert runs_on.stdout.split()[-1].startswith(version)  # the tool's own interpreter

    data = tmp_path / "data"
    server_settings = server_env(
        f"sqlite+aiosqlite:///{data / 'wagate.db'}", data, WAGATE_API_KEY=ADMIN
    )
    server = ServerProcess(
        {**server_settings, "PATH": env.get("PATH", "")},
        tmp_path / "serve.log",
        command=[str(wagate), "serve"],
    )
    server.start()
    try:
        await server.wait_ready(timeout_s=60)  # a first start on a busy machine
        headers = {"authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as api:
            health = (await api.get("/health")).json()
            assert health["status"] == "ok"
            login = await api.get("/ui/", follow_redirects=True)  # templates are in the wheel
            assert login.status_code == 200
            assert "<form" in login.text
            assert (await api.get("/ui/static/vendor/htmx-2.0.11.min.js")).status_code == 200
            assert (await api.get("/docs")).status_code == 200
            made = await api.post("/v1/sessions", json={"name": "from-the-wheel"})
            assert made.status_code == 201, made.text  # the migrations ran from the wheel

            async def shows_qr() -> bool:
                return (await api.get(f"/v1/sessions/{made.json()['id']}/qr")).status_code == 200

            await until(shows_qr)
        server.stop()
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait()
