"""Voice notes: any audio to OGG/Opus, the only format WhatsApp plays as push-to-talk.

ffmpeg runs as an asyncio subprocess (never in a thread, never through a shell).
The input goes through a temporary file rather than a pipe: containers such as
MP4/M4A keep their index at the end, which ffmpeg cannot seek to on a pipe.
ffmpeg comes from the operating system (``scripts/system-deps.sh`` installs
Debian's); :func:`ffmpeg_available` says whether it is there.

Shared by the transports that send voice notes and, later, by the
conversation engine that speaks replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

OGG_OPUS_MIME = "audio/ogg; codecs=opus"


class AudioConversionError(Exception):
    """ffmpeg is missing, timed out, or could not read the input."""


@dataclass(frozen=True, slots=True)
class ConvertedAudio:
    data: bytes
    mime_type: str
    seconds: float | None  # duration, when ffprobe could tell


def ffmpeg_available(ffmpeg: str = "ffmpeg", ffprobe: str = "ffprobe") -> bool:
    return shutil.which(ffmpeg) is not None and shutil.which(ffprobe) is not None


async def _run(args: list[str], timeout_s: float) -> tuple[int, bytes, bytes]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise AudioConversionError(f"{args[0]} is not installed") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out, err


async def probe_seconds(
    path: Path, *, ffprobe: str = "ffprobe", timeout_s: float = 30.0
) -> float | None:
    """The duration of a media file in seconds, or None if ffprobe cannot tell."""
    try:
        code, out, _ = await _run(
            [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
            timeout_s,
        )
    except (AudioConversionError, TimeoutError):
        return None
    if code != 0:
        return None
    try:
        return float(json.loads(out)["format"]["duration"])
    except (ValueError, KeyError, TypeError):
        return None


async def to_ogg_opus(
    data: bytes,
    *,
    ffmpeg: str = "ffmpeg",
    ffprobe: str = "ffprobe",
    timeout_s: float = 120.0,
    bitrate: str = "32k",
) -> ConvertedAudio:
    """Convert audio bytes (any format ffmpeg reads) to a mono 48 kHz OGG/Opus voice note."""
    if not data:
        raise AudioConversionError("no audio to convert")
    with tempfile.TemporaryDirectory(prefix="wagate-audio-") as tmp:
        source = Path(tmp) / "input"
        target = Path(tmp) / "voice.ogg"
        source.write_bytes(data)
        args = [
            ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(source),
            "-vn",
            "-map_metadata",
            "-1",
            "-ac",
            "1",
            "-ar",
            "48000",
            "-c:a",
            "libopus",
            "-b:a",
            bitrate,
            "-application",
            "voip",
            "-f",
            "ogg",
            "-y",
            str(target),
        ]
        try:
            code, _, err = await _run(args, timeout_s)
        except TimeoutError:
            raise AudioConversionError(f"ffmpeg took longer than {timeout_s:g} s") from None
        if code != 0 or not target.exists():
            detail = err.decode(errors="replace").strip().splitlines()
            raise AudioConversionError(
                "ffmpeg could not convert the audio: " + (detail[-1] if detail else f"exit {code}")
            )
        seconds = await probe_seconds(target, ffprobe=ffprobe)
        return ConvertedAudio(target.read_bytes(), OGG_OPUS_MIME, seconds)
