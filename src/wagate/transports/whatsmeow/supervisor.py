"""Engine hosts: spawn them, give them sessions, notice when one dies, start another.

The API process never loads the Go library. Each whatsmeow session lives in an
engine host subprocess (:mod:`.host`), a few sessions per host. The supervisor
talks to a host over a Unix socket pair (:mod:`.protocol`) and watches it two
ways: the socket reaching EOF and the process exiting. Either means every
session on that host is gone at once; each one's transport is told
(``on_host_lost``) and reports ``Disconnected(500)``, so the session runtime's
reconnect logic opens it again, on a healthy host or a new one.

A host that dies soon after it started counts as a crash; consecutive crashes
delay the next spawn along ``restart_backoff_s`` on the injected clock, so a
host that cannot start (or a poisoned session that panics it every time) does
not spin. A host that lived ``stable_after_s`` resets the count.

Waiting for a host to say it is ready and for an answer to a request uses real
time: those are guards against a stuck subprocess, not protocol timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from wagate.domain import Clock, ConnectionGone, TransportError, TransportEvent
from wagate.transports.whatsmeow.protocol import (
    ProtocolError,
    RawQr,
    encode_frame,
    error_from_wire,
    event_from_wire,
    read_frame,
)

if TYPE_CHECKING:
    from wagate.transports.base import TransportContext
    from wagate.transports.whatsmeow.transport import WhatsmeowTransport

log = structlog.get_logger("wagate.whatsmeow")


class SessionLink(Protocol):
    """What a host reports to the transport of one of its sessions."""

    def on_host_event(self, event: TransportEvent | RawQr) -> None: ...

    def on_host_lost(self, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SupervisorSettings:
    sessions_per_host: int = 5
    restart_backoff_s: tuple[float, ...] = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)
    stable_after_s: float = 60.0
    start_timeout_s: float = 60.0
    request_timeout_s: float = 180.0
    stop_timeout_s: float = 10.0
    qr_max_codes: int = 5
    max_media_bytes: int = 64 * 1024 * 1024
    python: str = sys.executable
    host_args: tuple[str, ...] = ()  # extra arguments for the host (tests: a session factory)
    env: Mapping[str, str] | None = None  # filtered into the host's; default: this process's


def describe_exit(code: int | None) -> str:
    if code is None:
        return "the engine host closed its socket"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the engine host was killed by {name}"
    return f"the engine host exited with code {code}"


@dataclass(eq=False)
class EngineHost:
    """One engine host subprocess and the sessions it runs."""

    number: int
    process: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    started_at: datetime
    settings: SupervisorSettings
    sessions: dict[str, SessionLink] = field(default_factory=dict)
    alive: bool = True
    exit_reason: str | None = None
    _pending: dict[int, asyncio.Future[tuple[Any, bytes]]] = field(default_factory=dict)
    _rids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _gone: asyncio.Event = field(default_factory=asyncio.Event)
    _on_lost: Callable[[EngineHost], None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self, on_lost: Callable[[EngineHost], None]) -> None:
        self._on_lost = on_lost
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read_loop(), name=f"engine-host-{self.number}-read"),
            loop.create_task(self._watch_exit(), name=f"engine-host-{self.number}-exit"),
        ]

    async def request(
        self,
        op: str,
        *,
        session: str | None = None,
        blob: bytes = b"",
        timeout: float | None = None,
        **fields: Any,
    ) -> tuple[Any, bytes]:
        """Send one request and wait for its answer; raises the host's error as a WagateError."""
        if not self.alive:
            raise ConnectionGone(self.exit_reason or "the engine host is gone")
        rid = next(self._rids)
        future: asyncio.Future[tuple[Any, bytes]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        header = {"rid": rid, "op": op, **fields}
        if session is not None:
            header["session"] = session
        try:
            self.writer.write(encode_frame(header, blob))
            await self.writer.drain()
            return await asyncio.wait_for(future, timeout or self.settings.request_timeout_s)
        except (ConnectionError, BrokenPipeError):
            raise ConnectionGone("the engine host is gone") from None
        except TimeoutError:
            raise TransportError(f"the engine host did not answer {op!r} in time") from None
        finally:
            self._pending.pop(rid, None)

    async def _read_loop(self) -> None:
        reason = None
        try:
            while True:
                frame = await read_frame(self.reader)
                if frame is None:
                    break
                self._dispatch(frame.header, frame.blob)
        except (ProtocolError, ConnectionError) as exc:
            reason = f"the engine host broke the protocol: {exc}"
        await self._lost(reason)

    def _dispatch(self, header: dict[str, Any], blob: bytes) -> None:
        if "rid" in header:
            future = self._pending.get(int(header["rid"]))
            if future is None or future.done():
                return
            if header.get("ok"):
                future.set_result((header.get("result"), blob))
            else:
                future.set_exception(error_from_wire(header.get("error") or {}))
            return
        event = header.get("event")
        link = self.sessions.get(str(header.get("session")))
        if link is None or not isinstance(event, dict):
            return
        try:
            link.on_host_event(event_from_wire(event, blob))
        except (ProtocolError, KeyError, TypeError, ValueError) as exc:
            log.warning("engine host sent an event we cannot read", error=str(exc))

    async def _watch_exit(self) -> None:
        await self.process.wait()
        await self._lost(None)

    async def _lost(self, reason: str | None) -> None:
        """The host is gone (socket EOF or process exit): fail everything waiting on it."""
        if not self.alive:
            return
        self.alive = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), 2.0)  # for the exit code, if it comes
        self.exit_reason = reason or describe_exit(self.process.returncode)
        self.writer.close()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionGone(self.exit_reason))
        links, self.sessions = list(self.sessions.values()), {}
        for link in links:
            link.on_host_lost(self.exit_reason)
        self._gone.set()
        if self._on_lost is not None:
            self._on_lost(self)

    async def stop(self, timeout_s: float) -> None:
        """Ask the host to finish (closing its socket), then kill it if it lingers."""
        if self.alive:
            self.writer.close()
            try:
                await asyncio.wait_for(self.process.wait(), timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        await self._gone.wait()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()


HOST_ENV_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "PYTHONPATH",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    }
)


def host_environment(parent: Mapping[str, str]) -> dict[str, str]:
    """What an engine host inherits: the names it needs to run (a path, a locale, a time
    zone, certificates, an egress proxy), never the admin key, the secret key, the
    database URL or any other ``WAGATE_*`` setting. A host only runs neonize; everything it
    needs comes over its socket."""
    return {
        name: value
        for name, value in parent.items()
        if name in HOST_ENV_NAMES or name.startswith("LC_")
    }


class EngineSupervisor:
    """Owns the engine hosts of this API process. Close it when the process stops."""

    def __init__(self, clock: Clock, data_dir: Path, settings: SupervisorSettings) -> None:
        self.clock = clock
        self.data_dir = data_dir.resolve()  # hosts get absolute paths
        self.settings = settings
        self.hosts: list[EngineHost] = []
        self.crashes = 0  # consecutive hosts that died before becoming stable
        self.last_crash_at: datetime | None = None
        self._numbers = itertools.count(1)
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def store_root(self) -> Path:
        return self.data_dir / "whatsmeow"

    def store_dir(self, session_id: str) -> Path:
        return self.store_root / session_id

    def create_transport(self, context: TransportContext) -> WhatsmeowTransport:
        from wagate.transports.whatsmeow.transport import WhatsmeowTransport

        return WhatsmeowTransport(context, self)

    # ------------------------------------------------------------------ assignment

    async def attach(self, session_id: str, link: SessionLink) -> EngineHost:
        """The host that will run ``session_id``: one with room, or a new one."""
        async with self._lock:
            if self._closed:
                raise ConnectionGone("the engine supervisor is shut down")
            for host in self.hosts:
                if session_id in host.sessions and host.alive:
                    host.sessions[session_id] = link
                    return host
            found = next(
                (
                    h
                    for h in self.hosts
                    if h.alive and len(h.sessions) < self.settings.sessions_per_host
                ),
                None,
            )
            host = found if found is not None else await self._spawn()
            host.sessions[session_id] = link
            return host

    def detach(self, session_id: str, host: EngineHost, link: SessionLink) -> None:
        if host.sessions.get(session_id) is link:
            del host.sessions[session_id]

    def restart_delay(self) -> float:
        """How long to wait before the next spawn, given the recent crashes."""
        if self.crashes == 0:
            return 0.0
        schedule = self.settings.restart_backoff_s or (0.0,)
        return schedule[min(self.crashes, len(schedule)) - 1]

    async def _spawn(self) -> EngineHost:
        delay = self.restart_delay()
        if delay > 0:
            log.info("engine host restart delayed", delay_s=delay, crashes=self.crashes)
            await self.clock.sleep(delay)
        self.store_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.store_root, 0o700)
        parent_sock, child_sock = socket.socketpair()
        fd = child_sock.fileno()
        try:
            process = await asyncio.create_subprocess_exec(
                self.settings.python,
                "-m",
                "wagate.transports.whatsmeow.host",
                "--fd",
                str(fd),
                *self.settings.host_args,
                pass_fds=(fd,),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                env=host_environment(
                    self.settings.env if self.settings.env is not None else os.environ
                ),
                start_new_session=True,  # a terminal's Ctrl-C reaches the API, which stops hosts
            )
        except OSError as exc:
            parent_sock.close()
            raise TransportError(f"could not start an engine host: {exc}") from None
        finally:
            child_sock.close()
        reader, writer = await asyncio.open_unix_connection(sock=parent_sock)
        try:
            hello = await asyncio.wait_for(read_frame(reader), self.settings.start_timeout_s)
        except (TimeoutError, ProtocolError, ConnectionError):
            hello = None
        if hello is None or not hello.header.get("ready"):
            writer.close()
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            code = await process.wait()
            self._crashed()
            raise TransportError(f"the engine host did not start: {describe_exit(code)}")
        host = EngineHost(
            number=next(self._numbers),
            process=process,
            reader=reader,
            writer=writer,
            started_at=self.clock.now(),
            settings=self.settings,
        )
        host.start(self._host_lost)
        self.hosts.append(host)
        log.info("engine host started", host=host.number, pid=host.pid)
        return host

    def _crashed(self) -> None:
        self.crashes += 1
        self.last_crash_at = self.clock.now()

    def _host_lost(self, host: EngineHost) -> None:
        if host in self.hosts:
            self.hosts.remove(host)
        if self._closed:
            return
        lived = (self.clock.now() - host.started_at).total_seconds()
        if lived >= self.settings.stable_after_s:
            self.crashes = 0
        self._crashed()
        log.warning(
            "engine host died",
            host=host.number,
            pid=host.pid,
            reason=host.exit_reason,
            crashes=self.crashes,
        )

    # ------------------------------------------------------------------ shutdown

    async def close(self) -> None:
        """Stop every host; their sessions were closed by the session manager before.

        Taken under the assignment lock: a host being spawned for a session right now
        (a reconnect racing the shutdown) is in the list by then, and stopped too."""
        async with self._lock:
            self._closed = True
            hosts, self.hosts = list(self.hosts), []
        await asyncio.gather(
            *(host.stop(self.settings.stop_timeout_s) for host in hosts), return_exceptions=True
        )
