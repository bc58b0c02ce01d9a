"""Voice replies: fetch the brain's audio and convert it to OGG/Opus, WhatsApp's voice format.

Conversion uses the ``ffmpeg`` binary (24 kbit/s VBR, 60 ms frames, VOIP
tuning, as seed 000 does). Audio already in OGG/Opus is sent as it is; when
ffmpeg is missing or fails, the original audio is sent as an audio message.
"""

from __future__ import annotations

import asyncio
import shutil

import httpx

from wagate.domain.urls import ensure_public_url
from wagate.engine.brains import Audio, BrainError

OGG_OPUS = "audio/ogg; codecs=opus"
FFMPEG_ARGS = [
    "-hide_banner",
    "-loglevel",
    "error",
    "-i",
    "pipe:0",
    "-vn",
    "-c:a",
    "libopus",
    "-b:a",
    "24k",
    "-vbr",
    "on",
    "-frame_duration",
    "60",
    "-application",
    "voip",
    "-f",
    "ogg",
    "pipe:1",
]


async def fetch(
    audio: Audio, http: httpx.AsyncClient, *, allow_private: bool, max_bytes: int
) -> tuple[bytes, str | None]:
    if audio.data is not None:
        return audio.data, audio.mime_type
    assert audio.url is not None
    await ensure_public_url(audio.url, allow_private=allow_private)
    try:
        async with http.stream("GET", audio.url, follow_redirects=False) as response:
            if response.status_code >= 300:
                raise BrainError(f"audio_url answered HTTP {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():  # never more than the limit in memory
                size += len(chunk)
                if size > max_bytes:
                    raise BrainError(f"audio_url is larger than {max_bytes} bytes")
                chunks.append(chunk)
            mime = audio.mime_type or response.headers.get("content-type")
    except httpx.HTTPError as exc:
        raise BrainError(f"audio_url unreachable: {exc!r}") from None
    return b"".join(chunks), mime


async def to_ogg_opus(data: bytes, mime: str | None, timeout_s: float = 60.0) -> bytes | None:
    """The audio as OGG/Opus, or None when it cannot be converted here."""
    if mime and "ogg" in mime and "opus" in mime:
        return data
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    process = await asyncio.create_subprocess_exec(
        ffmpeg,
        *FFMPEG_ARGS,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(data), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        return None
    if process.returncode != 0 or not out:
        return None
    return out
