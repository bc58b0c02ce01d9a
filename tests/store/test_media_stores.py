"""The two media stores keep one contract: the data dir, and an S3-compatible bucket."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest

from wagate.store.media import LocalMediaStore, MediaStore, S3MediaStore, S3Settings


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    if request.param == "local":
        return LocalMediaStore(tmp_path)
    bucket: S3Settings = request.getfixturevalue("s3_bucket")
    return S3MediaStore(bucket)


async def test_save_read_remove_and_delete_a_session(store: MediaStore) -> None:
    stored = await store.save("ses_1", "msg_1", b"\xff\xd8jpeg", "image/jpeg")
    assert stored.key == "ses_1/msg_1.jpg"
    assert stored.size == 6
    assert len(stored.sha256) == 64
    assert await store.read("ses_1", "msg_1", "image/jpeg") == b"\xff\xd8jpeg"
    assert await store.read("ses_1", "msg_2", "image/jpeg") is None
    assert await store.read("ses_1", "msg_1", "audio/ogg") is None  # another file name

    await store.save("ses_1", "msg_1", b"again", "image/jpeg")  # replaced whole
    assert await store.read("ses_1", "msg_1", "image/jpeg") == b"again"

    assert await store.remove("ses_1", "msg_1", "image/jpeg") is True
    assert await store.remove("ses_1", "msg_1", "image/jpeg") is False
    assert await store.read("ses_1", "msg_1", "image/jpeg") is None

    for n in range(3):
        await store.save("ses_2", f"msg_{n}", b"x" * n, None)
    await store.save("ses_3", "msg_0", b"keep", None)
    await store.delete_session("ses_2")
    await store.delete_session("ses_nothing")  # nothing to delete is fine
    assert [await store.read("ses_2", f"msg_{n}", None) for n in range(3)] == [None] * 3
    assert await store.read("ses_3", "msg_0", None) == b"keep"


async def test_hostile_ids_stay_inside_the_store(store: MediaStore, tmp_path: Path) -> None:
    stored = await store.save("../../etc", "../passwd", b"no", "text/plain")
    assert stored.key == ".._.._etc/.._passwd.txt"
    assert not (tmp_path.parent / "etc").exists()


async def test_an_uploaded_file_is_stored_from_its_spool(store: MediaStore) -> None:
    data = bytes(range(256)) * 5000  # over a megabyte: copied in chunks
    with tempfile.SpooledTemporaryFile(max_size=1024) as spool:
        spool.write(data)
        spool.seek(0)
        stored = await store.save_file("ses_1", "msg_up", spool, "application/pdf")
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await store.read("ses_1", "msg_up", "application/pdf") == data
