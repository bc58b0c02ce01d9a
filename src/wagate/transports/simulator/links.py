"""Which connection of a session the simulated network talks to, across processes.

WhatsApp keeps one connection per linked device: when the device connects again
(another gateway worker took the session over), the older connection is closed
with a stream error, close code 440 ("replaced"), and whatever it still tries to
do is refused. Within one process :class:`SimulatorNetwork` models that with the
phone's current transport. Several ``wagate serve`` processes sharing a ledger
directory (a fleet of workers on one machine, the chaos test) each have their own
network object, so the ledger directory also holds, per session:

``<session>.link``
    the id of the connection opened last, replaced atomically by each open;
``<session>.links.jsonl``
    one line per open: ``{"conn", "pid", "token", "at"}``, where ``token`` is the
    gateway's lease fencing token for the session (``null`` outside a fleet);
``<session>.conflicts.jsonl``
    one line per violation the network saw: a connection that acted (sent, typed,
    read) after a newer one had opened, or an open whose fencing token is lower
    than an earlier open's (a worker that lost the session connecting again).

The gateway must never cause a conflict: the fleet's chaos test reads these files
and asserts there is none, i.e. that at no moment a session had two live
connections acting on the network.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

LINK_SUFFIX = ".link"
OPENS_SUFFIX = ".links.jsonl"
CONFLICTS_SUFFIX = ".conflicts.jsonl"


class LinkBoard:
    """The current connection of each session, kept in files so processes share it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, session_id: str, suffix: str) -> Path:
        return self.directory / f"{quote(session_id, safe='')}{suffix}"  # as the ledger's name

    def open(self, session_id: str, conn: str, token: int | None) -> None:
        """``conn`` is the session's connection from now on; a stale token is a conflict."""
        opens = self._path(session_id, OPENS_SUFFIX)
        tokens = [o["token"] for o in read_lines(opens) if isinstance(o.get("token"), int)]
        highest = max(tokens, default=None)
        if token is not None and highest is not None and token < highest:
            self.conflict(session_id, conn, "stale_open", token=token, highest=highest)
        _append(opens, {"conn": conn, "pid": os.getpid(), "token": token, "at": time.time()})
        link = self._path(session_id, LINK_SUFFIX)
        scratch = link.with_name(f"{link.name}.{os.getpid()}.tmp")
        scratch.write_text(conn)
        os.replace(scratch, link)  # atomic: a reader sees the old id or the new one

    def current(self, session_id: str) -> str | None:
        try:
            return self._path(session_id, LINK_SUFFIX).read_text()
        except FileNotFoundError:
            return None

    def conflict(self, session_id: str, conn: str, what: str, **detail: Any) -> None:
        line = {"conn": conn, "pid": os.getpid(), "what": what, "at": time.time(), **detail}
        _append(self._path(session_id, CONFLICTS_SUFFIX), line)

    def forget(self, session_id: str) -> None:
        for suffix in (LINK_SUFFIX, OPENS_SUFFIX, CONFLICTS_SUFFIX):
            self._path(session_id, suffix).unlink(missing_ok=True)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The whole JSON lines of a links or conflicts file (a torn last line is skipped)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = []
    for raw in data.split(b"\n"):
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines


def _append(path: Path, line: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)  # one write of a short line under O_APPEND: lines never interleave
    finally:
        os.close(fd)
