"""What reached the simulated network, kept on disk so it outlives the gateway process.

The simulated WhatsApp network is, conceptually, outside the gateway: when the
gateway crashes, WhatsApp's servers still know which messages they received.
With a ledger directory, the network appends one JSON line per *transmission*
to ``<ledger_dir>/<session id>.sent.jsonl``::

    {"wa_message_id":"3EB0...","message_id":"msg_...","to":"5511...@s.whatsapp.net","type":"text","text":"hi"}

Loading folds the lines back into :class:`SentRecord` s in order of first
arrival: the first line of a ``wa_message_id`` is the copy the network kept,
each later one only adds to ``transmissions``. Lines are written and flushed
to the OS one by one (no fsync: a killed process loses nothing it wrote; only
a machine crash could, which the drill does not simulate). A line cut short
(the process died inside a write) is ignored on load and cut off the file, so
the next transmission starts on a line of its own.

Only the sent messages are kept. The device link is recoverable from the
session's stored credentials, and the phone's number and push name are
derived again from the seed, the session id, its config and those
credentials. Receipts the recipients have not yet sent, presence and read
logs and the queue of inbound messages for an offline session live in memory
only: a real network would redeliver pending receipts, but the gateway
tolerates losing them here (the messages concerned stay at ``sent``), and the
crash drill only counts what reached the network.
"""

from __future__ import annotations

import json
import os
import weakref
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import structlog

from wagate.transports.simulator.records import SentRecord

log = structlog.get_logger()

LEDGER_SUFFIX = ".sent.jsonl"
# ASCII-only output: any text (even lone surrogates) encodes, and a line never holds a raw newline.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def ledger_path(directory: Path, session_id: str) -> Path:
    """The session's ledger file; the id is percent-encoded, so it is always a plain file name."""
    return directory / f"{quote(session_id, safe='')}{LEDGER_SUFFIX}"


def fold_transmission(sent: dict[str, SentRecord], record: SentRecord) -> bool:
    """Add one transmission to ``sent``; True when its ``wa_message_id`` is new.

    The network keeps the first copy of a message and only counts later ones.
    """
    known = sent.get(record.wa_message_id)
    if known is not None:
        sent[record.wa_message_id] = replace(known, transmissions=known.transmissions + 1)
        return False
    sent[record.wa_message_id] = record
    return True


def encode_line(record: SentRecord) -> bytes:
    """One transmission as a ledger line, newline included."""
    fields = {
        "wa_message_id": record.wa_message_id,
        "message_id": record.message_id,
        "to": record.to,
        "type": record.type,
        "text": record.text,
    }
    if record.target is not None:
        fields["target"] = record.target
    return _ENCODER.encode(fields).encode("ascii") + b"\n"


def decode_line(line: bytes) -> SentRecord | None:
    """The transmission on a ledger line, or None when the line is not a whole, valid one."""
    try:
        fields = json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    if not isinstance(fields, dict):
        return None
    keys = ("wa_message_id", "message_id", "to", "type")
    values = [fields.get(key) for key in keys]
    text, target = fields.get("text"), fields.get("target")
    if not all(isinstance(v, str) for v in values) or not all(
        v is None or isinstance(v, str) for v in (text, target)
    ):
        return None
    return SentRecord(
        wa_message_id=fields["wa_message_id"],
        message_id=fields["message_id"],
        to=fields["to"],
        type=fields["type"],
        text=text,
        target=target,
    )


class SentLedger:
    """One session's append-only ledger file.

    :meth:`load` it before the first :meth:`append`. The file is created on the
    first append and, while ``keep_open``, its handle stays open until
    :meth:`close`; after that each append opens and closes the file, so a late
    transmission is still kept and no handle leaks. A ledger dropped without
    :meth:`close` (an app that never closed its network) closes its file when
    it is garbage-collected, without a ``ResourceWarning``.
    """

    def __init__(self, path: Path, *, keep_open: bool = True) -> None:
        self.path = path
        self._keep_open = keep_open
        self._file: BinaryIO | None = None
        self._closer: weakref.finalize[[], SentLedger] | None = None

    def load(self) -> dict[str, SentRecord]:
        """The distinct messages in the file, by ``wa_message_id`` in order of first arrival."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        sent: dict[str, SentRecord] = {}
        end = data.rfind(b"\n") + 1  # everything after the last newline is an unfinished line
        for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
            record = decode_line(line)
            if record is not None:
                fold_transmission(sent, record)
            elif line.strip():
                log.warning("simulator_ledger_line_skipped", path=str(self.path), line=number)
        if end < len(data):
            log.warning(
                "simulator_ledger_torn_line_dropped", path=str(self.path), bytes=len(data) - end
            )
            os.truncate(self.path, end)
        return sent

    def append(self, record: SentRecord) -> None:
        """Write one transmission and hand it to the OS (a killed process cannot lose it)."""
        line = encode_line(record)
        file = self._file
        if file is None:
            if not self._keep_open:
                with self._open() as once:
                    once.write(line)
                return
            file = self._file = self._open()
            self._closer = weakref.finalize(self, file.close)
        file.write(line)
        file.flush()

    def _open(self) -> BinaryIO:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return open(self.path, "ab", opener=_private)  # kept open until close()

    def clear(self) -> None:
        """Forget every transmission: the file is removed (recreated by the next append)."""
        self._close_file()
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the handle; later appends open the file just for their line."""
        self._keep_open = False
        self._close_file()

    def _close_file(self) -> None:
        closer, self._closer, self._file = self._closer, None, None
        if closer is not None:
            closer()  # closes the file, once


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)  # message texts: readable by the gateway's user only
