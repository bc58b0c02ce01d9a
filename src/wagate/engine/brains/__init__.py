"""Brains: who writes the replies. ``Brains.build`` picks one from a session's settings.

SDK clients are kept per (kind, base URL, key, timeout), so connections are
reused between batches; :meth:`Brains.close` closes them.

The OpenAI and Anthropic SDKs are imported when a session first uses them:
together they take about 1.5 s to import, which every worker would otherwise
pay at start even when no assistant uses them. :meth:`Brains.load` imports
them in a thread, so that first use does not hold up the event loop (and with
it every session of the worker) for that long.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from wagate.engine.brains.base import (
    Audio,
    Brain,
    BrainError,
    BrainReply,
    BrainRequest,
    Turn,
    parse_reply,
)
from wagate.engine.brains.echo import EchoBrain
from wagate.engine.brains.webhook import WebhookBrain
from wagate.engine.settings import BrainSettings, Transcription
from wagate.events import PublicHttp

__all__ = [
    "Audio",
    "Brain",
    "BrainError",
    "BrainReply",
    "BrainRequest",
    "Brains",
    "Turn",
    "parse_reply",
]


_SDK_MODULES = {
    "openai": "wagate.engine.brains.openai",
    "openai_compatible": "wagate.engine.brains.openai",
    "anthropic": "wagate.engine.brains.anthropic",
}
MAX_CLIENTS = 64  # SDK clients kept open (their connection pools), least recently used first out


class Brains:
    def __init__(
        self,
        *,
        allow_private: bool,
        worker_id: str,
        media_max_bytes: int,
        media_link: Callable[[str], str] = lambda path: path,
    ) -> None:
        self.allow_private = allow_private
        self.media_link = media_link  # signed links to media in a webhook brain's request
        self.worker_id = worker_id
        # webhook brains: one session for all; an answer may carry a voice note in base64
        self.http = PublicHttp(timeout_s=60.0, allow_private=allow_private)
        self.answer_limit = media_max_bytes * 4 // 3 + 1024 * 1024
        self._clients: OrderedDict[tuple[str, str | None, str | None, float], Any] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    @staticmethod
    async def load(kind: str) -> None:
        """Import the SDK that brains of ``kind`` use, off the event loop, once.

        :meth:`build` would import it too, but in the loop's thread."""
        module = _SDK_MODULES.get(kind)
        if module is not None and module not in sys.modules:
            await asyncio.to_thread(importlib.import_module, module)

    def build(self, settings: BrainSettings, api_key: str | None, bot_name: str) -> Brain:
        match settings.kind:
            case "echo":
                return EchoBrain()
            case "webhook":
                assert settings.url is not None
                return WebhookBrain(
                    self.http,
                    settings.url,
                    timeout_s=settings.timeout_s,
                    headers=settings.headers,
                    answer_limit=self.answer_limit,
                    worker_id=self.worker_id,
                    bot_name=bot_name,
                    link=self.media_link,
                )
            case "openai" | "openai_compatible":
                from wagate.engine.brains import openai as openai_brain

                assert settings.model is not None
                client = self._openai_client(settings.base_url, api_key, settings.timeout_s)
                return openai_brain.OpenAIBrain(client, settings.model, settings.max_tokens)
            case "anthropic":
                from wagate.engine.brains import anthropic as anthropic_brain

                assert settings.model is not None
                key = ("anthropic", settings.base_url, api_key, settings.timeout_s)
                if key not in self._clients:
                    self._keep_room()
                    self._clients[key] = anthropic_brain.make_client(
                        api_key=api_key,
                        base_url=settings.base_url,
                        timeout_s=settings.timeout_s,
                        allow_private=self.allow_private,
                    )
                self._clients.move_to_end(key)
                return anthropic_brain.AnthropicBrain(
                    self._clients[key], settings.model, settings.max_tokens
                )
        raise BrainError(f"unknown brain {settings.kind!r}")

    async def transcribe(
        self,
        settings: Transcription,
        api_key: str | None,
        audio: bytes,
        mime_type: str,
        file_name: str,
    ) -> str:
        """A voice note's words, by the transcription service the assistant names."""
        await self.load("openai")
        from wagate.engine.brains import openai as openai_brain

        return await openai_brain.transcribe(
            self._openai_client(settings.base_url, api_key, settings.timeout_s),
            model=settings.model,
            language=settings.language,
            data=audio,
            mime_type=mime_type,
            file_name=file_name,
        )

    def _openai_client(self, base_url: str | None, api_key: str | None, timeout_s: float) -> Any:
        """The OpenAI SDK client for this server, key and timeout (one each, kept)."""
        from wagate.engine.brains import openai as openai_brain

        key = ("openai", base_url, api_key, timeout_s)
        if key not in self._clients:
            self._keep_room()
            self._clients[key] = openai_brain.make_client(
                api_key=api_key,
                base_url=base_url,
                timeout_s=timeout_s,
                allow_private=self.allow_private,
            )
        self._clients.move_to_end(key)
        return self._clients[key]

    def _keep_room(self) -> None:
        """At most :data:`MAX_CLIENTS` SDK clients (one per base URL and key: tenants choose
        them): the least recently used is closed to make room."""
        while len(self._clients) >= MAX_CLIENTS:
            _, client = self._clients.popitem(last=False)
            task = asyncio.get_running_loop().create_task(client.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        await asyncio.gather(*self._closing, return_exceptions=True)
        await self.http.close()
