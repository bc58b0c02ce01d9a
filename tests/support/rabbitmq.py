"""A throwaway RabbitMQ broker on loopback: Debian's ``rabbitmq-server``, its node, ports,
database and logs in a directory of the test's own (so xdist workers each run their own,
and a broker stopped and started again keeps its durable queues)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.server import free_port

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def require_rabbitmq() -> None:
    if SERVER.exists():
        return
    if os.environ.get("WAGATE_TEST_REQUIRE_RABBITMQ") == "1":
        pytest.fail("RabbitMQ is required here but rabbitmq-server is not installed")
    pytest.skip("rabbitmq-server is not installed (apt-get install rabbitmq-server)")


class RabbitServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"wagate{self.port}@localhost"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        base = self.directory
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))},
            "HOME": str(base),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        }

    def start(self, timeout: float = 60.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "enabled_plugins").write_text("[].\n")
        (self.directory / "rabbitmq.conf").write_text("loopback_users = none\n")
        with open(self.directory / "server.log", "ab") as out:
            self.process = subprocess.Popen(
                [str(SERVER)],
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.directory / "server.log").read_text()
            if b"Starting broker... completed" in (self.directory / "server.log").read_bytes():
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    pass
            time.sleep(0.2)
        raise AssertionError(
            "RabbitMQ did not start:\n" + (self.directory / "server.log").read_text()
        )

    def stop(self) -> None:
        """The broker goes away (its durable queues and persistent messages stay on disk)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.process = None
        # the log keeps "completed" lines of the earlier run: start() looks for a new one
        log = self.directory / "server.log"
        if log.exists():
            log.rename(log.with_suffix(f".{int(time.time() * 1000)}.log"))

    def close(self) -> None:
        self.stop()
        epmd = ["epmd", "-port", str(self.epmd_port), "-kill"]  # the broker's name server
        subprocess.run(epmd, capture_output=True, check=False)
