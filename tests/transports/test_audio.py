"""OGG/Opus conversion with ffmpeg, checked with ffprobe."""

from __future__ import annotations

import asyncio
import io
import json
import math
import struct
import wave
from pathlib import Path

import pytest

from wagate.transports.audio import (
    OGG_OPUS_MIME,
    AudioConversionError,
    ffmpeg_available,
    to_ogg_opus,
)

pytestmark = pytest.mark.skipif(
    not ffmpeg_available(),
    reason="ffmpeg/ffprobe not installed (scripts/system-deps.sh installs them)",
)


def wav(seconds: float = 1.5, rate: int = 16000) -> bytes:
    """A generated 440 Hz tone as 16-bit mono WAV."""
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return out.getvalue()


async def ffprobe(path: Path) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        "ffprobe",
        "-v",
        "error",
        "-show_entries",
        "format=format_name,duration:stream=codec_name,channels,sample_rate",
        "-of",
        "json",
        str(path),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    return json.loads(out)  # type: ignore[no-any-return]


async def test_wav_becomes_mono_48k_ogg_opus(tmp_path: Path) -> None:
    converted = await to_ogg_opus(wav(1.5))
    assert converted.mime_type == OGG_OPUS_MIME
    assert converted.data[:4] == b"OggS"
    assert converted.seconds is not None
    assert abs(converted.seconds - 1.5) < 0.1
    target = tmp_path / "voice.ogg"
    target.write_bytes(converted.data)
    info = await ffprobe(target)
    stream = info["streams"][0]  # type: ignore[index]
    assert (stream["codec_name"], stream["channels"], stream["sample_rate"]) == ("opus", 1, "48000")
    assert info["format"]["format_name"] == "ogg"  # type: ignore[index]


async def test_garbage_is_a_clear_error() -> None:
    with pytest.raises(AudioConversionError, match="ffmpeg could not convert"):
        await to_ogg_opus(b"definitely not audio" * 10)


async def test_empty_input_is_refused() -> None:
    with pytest.raises(AudioConversionError):
        await to_ogg_opus(b"")


async def test_missing_ffmpeg_is_reported() -> None:
    with pytest.raises(AudioConversionError, match="not installed"):
        await to_ogg_opus(wav(0.2), ffmpeg="/nonexistent/ffmpeg")
