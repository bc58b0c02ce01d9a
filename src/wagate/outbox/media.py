"""Loading an outbound message's media: from the data dir, or downloaded once from its URL."""

from __future__ import annotations

import httpx

from wagate.domain import OutgoingMedia, PermanentSendError, TransientSendError, UnsafeUrl
from wagate.domain.urls import ensure_public_url
from wagate.store.media import MediaStore
from wagate.store.models import Message


class MediaLoader:
    def __init__(
        self,
        media: MediaStore,
        client: httpx.AsyncClient,
        *,
        max_bytes: int,
        allow_private_urls: bool,
    ) -> None:
        self.media = media
        self.client = client
        self.max_bytes = max_bytes
        self.allow_private_urls = allow_private_urls

    async def load(self, message: Message) -> OutgoingMedia | None:
        info = message.media
        if not info:
            return None
        mime = str(info.get("mime_type") or "application/octet-stream")
        stored = await self.media.read(message.session_id, message.id, mime)
        if stored is not None:
            data = stored
        else:
            url = info.get("source_url")
            if not url:
                raise PermanentSendError("the media file is missing", code="media_missing")
            data = await self._download(str(url))
            await self.media.save(message.session_id, message.id, data, mime)
        return OutgoingMedia(data=data, mime_type=mime, file_name=info.get("file_name"))

    async def _download(self, url: str) -> bytes:
        await ensure_public_url(url, allow_private=self.allow_private_urls)
        try:
            # Redirects are followed (signed storage links, Chatwoot's Active Storage):
            # each hop connects through the client's transport, which refuses private
            # addresses unless they are allowed.
            async with self.client.stream("GET", url, follow_redirects=True) as response:
                if response.status_code >= 500 or response.status_code == 429:
                    raise TransientSendError(
                        f"media URL answered {response.status_code}", code="media_unreachable"
                    )
                if response.status_code != 200:
                    raise PermanentSendError(
                        f"media URL answered {response.status_code}", code="media_unreachable"
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise PermanentSendError(
                            f"media is larger than {self.max_bytes} bytes", code="media_too_large"
                        )
                    chunks.append(chunk)
                return b"".join(chunks)
        except UnsafeUrl as exc:  # refused when connecting (the name resolves elsewhere now)
            raise PermanentSendError(exc.message, code="unsafe_url") from None
        except httpx.HTTPError as exc:
            raise TransientSendError(
                f"media URL unreachable: {exc!r}", code="media_unreachable"
            ) from None
