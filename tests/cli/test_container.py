"""The container image: the repository's ``Dockerfile`` built and run with Debian's podman,
then the simulator walk-through against it.

No image can be pulled from a registry here, so the base is a Debian bookworm root file
system made with ``mmdebstrap`` and imported (``--build-arg BASE=...``); everything else
is the Dockerfile as a user builds it. Podman runs with ``runc`` (crun fails on these
machines' cgroups) and without default ulimits (the sandbox refuses to set them), from a
``containers.conf`` of the test's own. Where podman or mmdebstrap cannot run, the test
says so and skips; CI installs both (``scripts/system-deps.sh``) and requires it
(``WAGATE_TEST_REQUIRE_CONTAINERS=1``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.events.support import Receiver
from tests.support.process import until
from tests.support.server import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # builds an image; installs a wheel

ROOT = Path(__file__).resolve().parents[2]
BASE = "localhost/wagate-base:bookworm"
IMAGE = "localhost/wagate:test"
ADMIN = "wga_container_test_key_0123456789abcdef"
BASE_PACKAGES = "python3,python3-venv,ca-certificates,ffmpeg,libmagic1"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # the host's, egress proxy's CA included


def _unavailable(reason: str) -> None:
    if os.environ.get("WAGATE_TEST_REQUIRE_CONTAINERS") == "1":
        pytest.fail(f"containers are required here but {reason}")
    pytest.skip(f"container test skipped: {reason}")


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The podman command line of this test: runc, no default ulimits, host network."""
    if shutil.which("podman") is None or shutil.which("mmdebstrap") is None:
        _unavailable("podman or mmdebstrap is not installed (apt-get install podman mmdebstrap)")
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n')
    os.environ["CONTAINERS_CONF"] = str(conf)
    probe = subprocess.run(["podman", "info"], capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        _unavailable(f"podman cannot run here: {probe.stderr.strip()[-300:]}")
    yield ["podman"]
    os.environ.pop("CONTAINERS_CONF", None)


def _run(command: list[str | Path], timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    output = f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"{command}:\n{output}"
    return done


async def _arun(command: list[str | Path]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_run, command)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on the host's loopback (the container shares the host's network)."""
    rx = await Receiver().start()
    yield rx
    await rx.stop()


@pytest.fixture(scope="module")
def image(podman: list[str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image built from the Dockerfile on a Debian base made here (kept between runs)."""
    if subprocess.run([*podman, "image", "exists", BASE]).returncode != 0:
        rootfs = tmp_path_factory.mktemp("rootfs") / "bookworm.tar"
        _run(["mmdebstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", rootfs])
        _run([*podman, "import", str(rootfs), BASE])
        rootfs.unlink()
    _run(
        [
            *podman,
            "build",
            "--format",
            "docker",  # keeps the HEALTHCHECK (the OCI format has none)
            "--network",
            "host",
            "--volume",
            f"{CA_BUNDLE}:{CA_BUNDLE}:ro",
            "--build-arg",
            f"BASE={BASE}",
            "--tag",
            IMAGE,
            str(ROOT),
        ]
    )
    return IMAGE


async def test_the_image_runs_the_walk_through_as_a_non_root_user(
    podman: list[str], image: str, receiver: Receiver
) -> None:
    port = free_port()
    name = f"wagate-test-{port}"
    await _arun(
        [
            *podman,
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            "host",
            "--env",
            f"WAGATE_PORT={port}",
            "--env",
            f"WAGATE_API_KEY={ADMIN}",
            "--env",
            f"WAGATE_WEBHOOK_URL={receiver.url}",  # a global webhook set in the environment
            "--env",
            "WAGATE_WEBHOOK_EVENTS=session.created,message.sent",
            image,
        ]
    )
    try:
        base = f"http://127.0.0.1:{port}"

        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{base}/health")).status_code == 200
            except httpx.TransportError:
                return False

        await until(healthy, timeout=120)
        headers = {"authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as api:
            made = await api.post("/v1/sessions", json={"name": "demo"})
            assert made.status_code == 201, made.text
            sid = made.json()["id"]

            async def shows_qr() -> bool:
                return (await api.get(f"/v1/sessions/{sid}/qr")).status_code == 200

            await until(shows_qr)
            assert (await api.post(f"/v1/simulator/{sid}/scan")).status_code == 202

            async def connected() -> bool:
                return (await api.get(f"/v1/sessions/{sid}")).json()["status"] == "connected"

            await until(connected)
            sent = await api.post(
                f"/v1/sessions/{sid}/messages",
                json={"to": "5511988887777", "text": "from the container", "humanize": False},
            )
            assert sent.status_code == 202, sent.text

            async def delivered() -> bool:
                body = (await api.get(f"/v1/messages/{sent.json()['id']}")).json()
                return body["status"] in ("sent", "delivered", "read")

            await until(delivered)

        async def hooked() -> bool:
            types = {r.json["type"] for r in receiver.received}
            return {"session.created", "message.sent"} <= types

        await until(hooked)
        user = (await _arun([*podman, "exec", name, "id", "-u"])).stdout.strip()
        assert user == "10001"  # not root
        await _arun([*podman, "exec", name, "test", "-f", "/data/secret-key"])  # the volume
        health = await asyncio.to_thread(
            subprocess.run, [*podman, "healthcheck", "run", name], capture_output=True
        )
        assert health.returncode == 0, health.stderr  # the image's own HEALTHCHECK passes
        await _arun([*podman, "stop", "--time", "30", name])  # SIGTERM: a clean stop
        logged = await _arun([*podman, "logs", name])
        logs = logged.stdout + logged.stderr
        assert "wagate stopped" in logs
    finally:
        await asyncio.to_thread(
            subprocess.run, [*podman, "rm", "--force", name], capture_output=True
        )
