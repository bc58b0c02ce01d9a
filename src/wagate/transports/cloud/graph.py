"""A pywa client pointed at the Graph API, and inbound media downloads through it.

pywa fixes ``https://graph.facebook.com/v<version>`` as the base URL of the
httpx client it is given. wagate injects its own ``httpx.AsyncClient`` and,
once pywa has configured it (token header, API version), moves its base URL
to the configured Graph URL while keeping pywa's version path; so tests talk
to a fake Graph server on loopback through the very same code paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from pywa_async.client import WhatsApp

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class GraphSettings:
    """Where the Graph API is and how long to wait for it."""

    url: str = DEFAULT_GRAPH_URL
    timeout_s: float = DEFAULT_TIMEOUT_S


def graph_client(
    phone_number_id: str,
    access_token: str,
    settings: GraphSettings,
    *,
    proxy_url: str | None = None,
) -> tuple[WhatsApp, httpx.AsyncClient]:
    """A pywa client for one phone number and the httpx client it owns (close it)."""
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout_s, connect=10.0),
        proxy=proxy_url,
        follow_redirects=True,
    )
    wa = WhatsApp(phone_id=phone_number_id, token=access_token, session=http)
    http.base_url = httpx.URL(settings.url.rstrip("/") + http.base_url.path)
    return wa, http


@dataclass(frozen=True, slots=True)
class DownloadedMedia:
    data: bytes
    mime_type: str


async def download_media(wa: WhatsApp, media_id: str, max_bytes: int) -> DownloadedMedia:
    """Fetch an inbound attachment: its short-lived URL from Graph, then the bytes.

    Raises ``ValueError`` when the file is larger than ``max_bytes``; Graph and
    network errors propagate (pywa's ``WhatsAppError``, ``httpx.HTTPError``).
    """
    info = await wa.get_media_url(media_id)
    if info.file_size and int(info.file_size) > max_bytes:
        raise ValueError(f"media {media_id} has {info.file_size} bytes, over {max_bytes}")
    data = await wa.get_media_bytes(info.url)
    if len(data) > max_bytes:
        raise ValueError(f"media {media_id} has {len(data)} bytes, over {max_bytes}")
    return DownloadedMedia(data=data, mime_type=info.mime_type or "application/octet-stream")
