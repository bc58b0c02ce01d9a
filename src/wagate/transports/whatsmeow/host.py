"""The engine host: a subprocess that runs a few whatsmeow sessions for the API process.

Started by the supervisor as ``python -m wagate.transports.whatsmeow.host --fd N``
with one end of a Unix socket pair as file descriptor N; it speaks
:mod:`.protocol` on it. A Go panic inside neonize aborts this process, not the
API: the supervisor sees the socket close, reports the host's sessions
disconnected, and the sessions reconnect on a new host.

Before importing neonize the host:

* points file descriptor 1 at stderr, since the Go library prints to stdout;
* sets umask 077, so the device store's files are created 0600 (dirs 0700);
* turns off neonize's ``<bot biz_bot="1">`` tag on direct messages
  (``NEONIZE_BOT_TAG=off``): wagate sends as the linked account, not as a bot;
* checks that neonize's Go library is on disk: neonize would otherwise try to
  download it from GitHub, and wagate never downloads anything at run time.

``--session-factory module:name`` replaces :class:`SessionEngine` (tests use it
to stand in for WhatsApp's servers); ``--test-commands`` enables the ``test``
request, which such a factory's engines may answer (crash drills).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import logging
import os
import platform
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wagate.domain import (
    ConnectionGone,
    PresenceState,
    TransportEvent,
    UnsupportedByTransport,
    WagateError,
)
from wagate.transports.whatsmeow.protocol import (
    Frame,
    ProtocolError,
    RawQr,
    encode_frame,
    error_to_wire,
    event_to_wire,
    outgoing_from_wire,
    read_frame,
)

if TYPE_CHECKING:
    from wagate.transports.whatsmeow.engine import SessionEngine

log = logging.getLogger("wagate.whatsmeow.host")

EngineFactory = Callable[..., "SessionEngine"]


def engine_library() -> Path | None:
    """Where neonize's Go library should be, found without importing neonize."""
    spec = importlib.util.find_spec("neonize")
    if spec is None or not spec.submodule_search_locations:
        return None
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine().lower(), "amd64")
    system = platform.system().lower()
    ext = {"windows": "dll", "darwin": "dylib"}.get(system, "so")
    return Path(next(iter(spec.submodule_search_locations))) / f"neonize-{system}-{arch}.{ext}"


class Host:
    """Answers the supervisor's requests and forwards the sessions' events."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        factory: EngineFactory,
        *,
        test_commands: bool = False,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.factory = factory
        self.test_commands = test_commands
        self.sessions: dict[str, SessionEngine] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, header: dict[str, Any], blob: bytes = b"") -> None:
        self.writer.write(encode_frame(header, blob))

    async def run(self) -> None:
        self.send({"ready": True, "pid": os.getpid()})
        await self.writer.drain()
        try:
            while True:
                frame = await read_frame(self.reader)
                if frame is None:
                    break  # the supervisor closed the socket: its process is stopping
                task = asyncio.get_running_loop().create_task(self._answer(frame))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            for engine in list(self.sessions.values()):
                await engine.close()

    async def _answer(self, frame: Frame) -> None:
        rid = frame.header.get("rid")
        try:
            result, blob = await self._handle(frame)
        except WagateError as exc:
            self.send({"rid": rid, "ok": False, "error": error_to_wire(exc)})
        except Exception as exc:  # a bug in a request must not end the host
            log.exception("request %s failed", frame.header.get("op"))
            self.send({"rid": rid, "ok": False, "error": error_to_wire(exc)})
        else:
            self.send({"rid": rid, "ok": True, "result": result}, blob)
        await self.writer.drain()

    def _engine(self, header: dict[str, Any]) -> SessionEngine:
        engine = self.sessions.get(str(header.get("session")))
        if engine is None:
            raise ConnectionGone("the session is not open on this engine host")
        return engine

    async def _handle(self, frame: Frame) -> tuple[Any, bytes]:
        h = frame.header
        op = h.get("op")
        if op == "ping":
            return {"pid": os.getpid(), "sessions": sorted(self.sessions)}, b""
        if op == "open":
            await self._open(h)
            return None, b""
        if op == "test":
            if not self.test_commands:
                raise UnsupportedByTransport("test commands are off on this engine host")
            handler = getattr(self._engine(h), "test_command", None)
            if handler is None:
                raise UnsupportedByTransport("this engine has no test commands")
            return await handler(h.get("command"), h.get("args") or {}), b""
        engine = self._engine(h)
        match op:
            case "close":
                self.sessions.pop(engine.session_id, None)
                await engine.close()
            case "logout":
                self.sessions.pop(engine.session_id, None)
                await engine.logout()
            case "keepalive":
                await engine.keepalive()
            case "pair":
                return {"code": await engine.request_pairing_code(str(h["phone"]))}, b""
            case "send":
                wa_id, timestamp = await engine.send(outgoing_from_wire(h["message"], frame.blob))
                return {"id": wa_id, "timestamp": timestamp}, b""
            case "presence":
                await engine.send_presence(str(h["chat"]), PresenceState(h["state"]))
            case "subscribe":
                await engine.subscribe_presence(str(h["chat"]))
            case "read":
                await engine.mark_read(str(h["chat"]), list(h["ids"]), h.get("sender"))
            case "check":
                return await engine.check_numbers(list(h["phones"])), b""
            case "group_info":
                return await engine.group_info(str(h["jid"])), b""
            case "group":
                return await engine.manage_group(dict(h["action"])), b""
            case "profile":
                return await engine.manage_profile(dict(h["action"])), b""
            case _:
                raise ProtocolError(f"unknown request {op!r}")
        return None, b""

    async def _open(self, h: dict[str, Any]) -> None:
        session_id = str(h["session"])
        old = self.sessions.pop(session_id, None)
        if old is not None:
            await old.close()

        async def emit(event: TransportEvent | RawQr) -> None:
            data, blob = event_to_wire(event)
            self.send({"session": session_id, "event": data}, blob)
            await self.writer.drain()

        engine = self.factory(
            session_id,
            Path(h["store_dir"]),
            emit,
            proxy_url=h.get("proxy_url"),
            max_media_bytes=int(h.get("max_media_bytes") or 64 * 1024 * 1024),
            known_jid=h.get("known_jid"),
        )
        self.sessions[session_id] = engine
        try:
            await engine.open(fresh=bool(h.get("fresh")))
        except BaseException:
            self.sessions.pop(session_id, None)
            await engine.close()
            raise


def _load_factory(spec: str | None) -> EngineFactory:
    if not spec:
        from wagate.transports.whatsmeow.engine import SessionEngine

        return SessionEngine
    module, _, name = spec.partition(":")
    factory: EngineFactory = getattr(importlib.import_module(module), name)
    return factory


async def _serve(fd: int, factory_spec: str | None, test_commands: bool) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    factory = _load_factory(factory_spec)
    await Host(reader, writer, factory, test_commands=test_commands).run()
    writer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wagate-engine-host")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--session-factory", default=None)
    parser.add_argument("--test-commands", action="store_true")
    args = parser.parse_args(argv)
    os.dup2(2, 1)  # the Go library prints to stdout; keep it off anything that matters
    os.umask(0o077)
    os.environ.setdefault("NEONIZE_BOT_TAG", "off")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="engine-host: %(message)s")
    # neonize passes its own logger's level to whatsmeow; unset would mean every debug line
    for name in ("neonize", "neonize.utils.log", "whatsmeow", "Whatsmeow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    library = engine_library()
    if library is None or not library.exists():
        print(
            "engine-host: neonize's Go library is missing; reinstall neonize (wagate never "
            "downloads it at run time)",
            file=sys.stderr,
        )
        return 3
    asyncio.run(_serve(args.fd, args.session_factory, args.test_commands))
    return 0


if __name__ == "__main__":
    sys.exit(main())
