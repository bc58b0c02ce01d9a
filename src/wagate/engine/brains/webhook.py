"""The external brain: one POST per batch to n8n, Make or any HTTP service (seed 000).

The request carries the seed's fields (``phone``, ``type``, ``message``,
``has_media``, ``media_count``, ``media_list``, ``message_id``,
``timestamp``...) for the batch's last message, ``message`` joining all its
texts, plus ``messages`` (every message of the batch) and ``history``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from wagate.engine.brains.base import BrainError, BrainReply, BrainRequest, parse_reply
from wagate.events import PublicHttp, RequestFailed


class WebhookBrain:
    """Posts through :class:`~wagate.events.PublicHttp`: the tenant's URL is held to the
    webhook rules (a public address, checked when connecting; no redirects)."""

    def __init__(
        self,
        http: PublicHttp,
        url: str,
        *,
        timeout_s: float,
        headers: dict[str, str],
        answer_limit: int,
        worker_id: str,
        bot_name: str,
        link: Callable[[str], str] = lambda path: path,
    ) -> None:
        self.http = http
        self.url = url
        self.timeout_s = timeout_s
        self.headers = {**headers, "content-type": "application/json"}
        self.answer_limit = answer_limit
        self.worker_id = worker_id
        self.bot_name = bot_name
        self.link = link  # a keyed media path -> a signed link the brain can open

    async def reply(self, request: BrainRequest) -> BrainReply:
        body = json.dumps(self.payload(request), separators=(",", ":")).encode()
        try:
            answer = await self.http.post(
                self.url,
                body,
                self.headers,
                read_limit=self.answer_limit + 1,
                timeout_s=self.timeout_s,
            )
        except TimeoutError:
            raise  # the worker says the brain did not answer in time
        except RequestFailed as exc:
            raise BrainError(f"webhook brain unreachable: {exc.reason}") from None
        if answer.status >= 300:
            raise BrainError(f"webhook brain answered HTTP {answer.status}")
        if len(answer.body) > self.answer_limit:
            raise BrainError(f"webhook brain answered more than {self.answer_limit} bytes")
        if not answer.body.strip():
            return BrainReply()
        text = answer.body.decode("utf-8", "replace")
        if "json" not in answer.headers.get("content-type", ""):
            return parse_reply(text)
        try:
            parsed = json.loads(text)
        except ValueError:
            raise BrainError("webhook brain answered invalid JSON") from None
        return parse_reply(parsed)

    def payload(self, request: BrainRequest) -> dict[str, Any]:
        last = request.messages[-1]
        media_list = [self._media(m) for m in request.messages if m.get("media")]
        body: dict[str, Any] = {
            "phone": f"+{request.phone}" if request.phone else None,
            "chat_id": request.chat_id,
            "push_name": request.push_name,
            "type": last.get("type", "text"),
            "message": request.text,
            "has_media": bool(media_list),
            "media_count": len(media_list),
            "media_list": media_list,
            "message_id": last.get("wa_message_id"),
            "timestamp": last.get("timestamp"),
            "bot_name": self.bot_name,
            "worker_id": self.worker_id,
            "session_id": request.session_id,
            "batch_id": request.batch_id,
            "messages": [
                {
                    "id": m.get("id"),
                    "message_id": m.get("wa_message_id"),
                    "type": m.get("type"),
                    "text": m.get("text"),
                    "timestamp": m.get("timestamp"),
                }
                for m in request.messages
            ],
            "history": [{"role": t.role, "text": t.text} for t in request.history],
        }
        if media_list:
            first = media_list[0]
            body.update(
                media_url=first["url"],
                media_type=first["mimetype"],
                media_filename=first["filename"],
                media_size=first["size"],
            )
        return body

    def _media(self, message: dict[str, Any]) -> dict[str, Any]:
        media = message.get("media") or {}
        url = media.get("url")
        return {
            "type": message.get("type"),
            "url": self.link(url) if url else None,
            "mimetype": media.get("mime_type"),
            "filename": media.get("file_name"),
            "size": media.get("size"),
        }
