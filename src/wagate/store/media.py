"""Media files: where message media live, apart from the database (which keeps their metadata).

Two stores with one interface:

- :class:`LocalMediaStore`, ``<data dir>/media/<session id>/<message id><ext>``: the
  single-worker default;
- :class:`S3MediaStore`, the same keys in an S3-compatible bucket (AWS S3, MinIO, R2,
  ...) through obstore: every worker of a fleet reaches every file, so a message stored
  by the worker that accepted it is sent by the worker that runs its session.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import obstore
from obstore.store import S3Store

from wagate.store.media_links import KEYED_PATH

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True)
class StoredMedia:
    key: str  # "<session id>/<message id><ext>"
    size: int
    sha256: str


def media_key(session_id: str, message_id: str, mime_type: str | None) -> str:
    extension = mimetypes.guess_extension((mime_type or "").split(";")[0].strip()) or ".bin"
    return f"{_SAFE.sub('_', session_id)}/{_SAFE.sub('_', message_id)}{extension}"


def _stored(key: str, data: bytes) -> StoredMedia:
    return StoredMedia(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def _measure(source: BinaryIO) -> tuple[int, str]:
    """Size and SHA-256 of a seekable file, read in chunks; it is left at its start."""
    digest, size = hashlib.sha256(), 0
    source.seek(0)
    while chunk := source.read(1024 * 1024):
        digest.update(chunk)
        size += len(chunk)
    source.seek(0)
    return size, digest.hexdigest()


class MediaStore(ABC):
    @abstractmethod
    async def save(
        self, session_id: str, message_id: str, data: bytes, mime_type: str | None
    ) -> StoredMedia:
        """Store the file whole or not at all (a crash never leaves half a file)."""

    async def save_file(
        self, session_id: str, message_id: str, source: BinaryIO, mime_type: str | None
    ) -> StoredMedia:
        """Store an uploaded file from its (seekable) spool, without holding it in memory
        where the store allows; whole or not at all, as :meth:`save`."""
        return await self.save(
            session_id, message_id, await asyncio.to_thread(source.read), mime_type
        )

    @abstractmethod
    async def read(self, session_id: str, message_id: str, mime_type: str | None) -> bytes | None:
        """The file, or None when there is none."""

    @abstractmethod
    async def remove(self, session_id: str, message_id: str, mime_type: str | None) -> bool:
        """Delete one file; whether there was one."""

    async def read_attached(self, session_id: str, media: Mapping[str, Any]) -> bytes | None:
        """The file of a message's ``media`` as events carry it (its ``url`` wagate's own
        path for the file); None when it points elsewhere or the file is gone."""
        match = KEYED_PATH.match(str(media.get("url")))
        if match is None:
            return None
        return await self.read(session_id, match.group(1), media.get("mime_type"))

    @abstractmethod
    async def delete_session(self, session_id: str) -> None:
        """Delete every file of a session."""


class LocalMediaStore(MediaStore):
    """Files on this worker's disk; the file work runs in a thread, off the event loop."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "media"

    def path_for(self, session_id: str, message_id: str, mime_type: str | None) -> Path:
        return self.root / media_key(session_id, message_id, mime_type)

    async def save(
        self, session_id: str, message_id: str, data: bytes, mime_type: str | None
    ) -> StoredMedia:
        path = self.path_for(session_id, message_id, mime_type)
        await asyncio.to_thread(self._write, path, data)
        return _stored(media_key(session_id, message_id, mime_type), data)

    async def save_file(
        self, session_id: str, message_id: str, source: BinaryIO, mime_type: str | None
    ) -> StoredMedia:
        path = self.path_for(session_id, message_id, mime_type)
        size, digest = await asyncio.to_thread(self._copy, path, source)
        return StoredMedia(
            key=media_key(session_id, message_id, mime_type), size=size, sha256=digest
        )

    @staticmethod
    def _copy(path: Path, source: BinaryIO) -> tuple[int, str]:
        """Copy in chunks, hashing as it goes; temp file, fsync, rename, as :meth:`_write`."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = path.with_suffix(path.suffix + ".part")
        digest, size = hashlib.sha256(), 0
        with open(temp, "wb") as handle:
            while chunk := source.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        return size, digest.hexdigest()

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        """Temp file, fsync, rename: atomic."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = path.with_suffix(path.suffix + ".part")
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)

    async def read(self, session_id: str, message_id: str, mime_type: str | None) -> bytes | None:
        path = self.path_for(session_id, message_id, mime_type)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def remove(self, session_id: str, message_id: str, mime_type: str | None) -> bool:
        path = self.path_for(session_id, message_id, mime_type)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        return True

    async def delete_session(self, session_id: str) -> None:
        await asyncio.to_thread(self._delete_folder, self.root / _SAFE.sub("_", session_id))

    @staticmethod
    def _delete_folder(folder: Path) -> None:
        if folder.is_dir():
            for child in folder.iterdir():
                child.unlink(missing_ok=True)
            folder.rmdir()


@dataclass(frozen=True, slots=True)
class S3Settings:
    bucket: str
    endpoint: str | None = None  # None: AWS S3 itself
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    prefix: str = "media/"


class S3MediaStore(MediaStore):
    """An S3-compatible bucket (a PUT is atomic there: a reader sees the whole file or
    none)."""

    def __init__(self, settings: S3Settings) -> None:
        self.prefix = settings.prefix
        self._store = S3Store(
            settings.bucket,
            endpoint=settings.endpoint,
            region=settings.region,
            access_key_id=settings.access_key_id,
            secret_access_key=settings.secret_access_key,
            client_options={
                "allow_http": bool(settings.endpoint and settings.endpoint.startswith("http://"))
            },
        )

    def _key(self, session_id: str, message_id: str, mime_type: str | None) -> str:
        return self.prefix + media_key(session_id, message_id, mime_type)

    async def save(
        self, session_id: str, message_id: str, data: bytes, mime_type: str | None
    ) -> StoredMedia:
        await obstore.put_async(self._store, self._key(session_id, message_id, mime_type), data)
        return _stored(media_key(session_id, message_id, mime_type), data)

    async def save_file(
        self, session_id: str, message_id: str, source: BinaryIO, mime_type: str | None
    ) -> StoredMedia:
        size, digest = await asyncio.to_thread(_measure, source)
        key = self._key(session_id, message_id, mime_type)
        await obstore.put_async(self._store, key, source)  # in parts when it is large
        return StoredMedia(
            key=media_key(session_id, message_id, mime_type), size=size, sha256=digest
        )

    async def read(self, session_id: str, message_id: str, mime_type: str | None) -> bytes | None:
        try:
            got = await obstore.get_async(self._store, self._key(session_id, message_id, mime_type))
        except FileNotFoundError:
            return None
        return bytes(await got.bytes_async())

    async def remove(self, session_id: str, message_id: str, mime_type: str | None) -> bool:
        key = self._key(session_id, message_id, mime_type)
        try:
            await obstore.head_async(self._store, key)
        except FileNotFoundError:
            return False
        await obstore.delete_async(self._store, key)
        return True

    async def delete_session(self, session_id: str) -> None:
        prefix = f"{self.prefix}{_SAFE.sub('_', session_id)}/"
        async for batch in obstore.list(self._store, prefix=prefix):
            await obstore.delete_async(self._store, [item["path"] for item in batch])
