"""Media files under ``<data dir>/media/<session id>/``; the database keeps only their metadata."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
from dataclasses import dataclass
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True)
class StoredMedia:
    path: Path
    size: int
    sha256: str


class MediaStore:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "media"

    def path_for(self, session_id: str, message_id: str, mime_type: str | None) -> Path:
        extension = mimetypes.guess_extension((mime_type or "").split(";")[0].strip()) or ".bin"
        return self.root / _SAFE.sub("_", session_id) / f"{_SAFE.sub('_', message_id)}{extension}"

    def save(
        self, session_id: str, message_id: str, data: bytes, mime_type: str | None
    ) -> StoredMedia:
        """Write atomically (temp file, fsync, rename) so a crash never leaves half a file."""
        path = self.path_for(session_id, message_id, mime_type)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = path.with_suffix(path.suffix + ".part")
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        return StoredMedia(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())

    def find(self, session_id: str, message_id: str, mime_type: str | None) -> Path | None:
        path = self.path_for(session_id, message_id, mime_type)
        return path if path.is_file() else None

    def delete_session(self, session_id: str) -> None:
        folder = self.root / _SAFE.sub("_", session_id)
        if folder.is_dir():
            for child in folder.iterdir():
                child.unlink(missing_ok=True)
            folder.rmdir()
