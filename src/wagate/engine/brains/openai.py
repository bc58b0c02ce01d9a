"""OpenAI's Chat Completions through the official SDK; with ``base_url``, any compatible
server (Ollama, vLLM, llama.cpp, LM Studio)."""

from __future__ import annotations

from typing import Any

import openai

from wagate.engine.brains.base import BrainError, BrainReply, BrainRequest
from wagate.engine.brains.sdk_http import sdk_http_client


class OpenAIBrain:
    def __init__(self, client: openai.AsyncOpenAI, model: str, max_tokens: int) -> None:
        self.client = client
        self.model = model
        self.max_tokens = max_tokens

    async def reply(self, request: BrainRequest) -> BrainReply:
        messages: list[Any] = []
        if request.system_prompt:
            messages.append({"role": "system", "content": request.system_prompt})
        messages += [{"role": t.role, "content": t.text} for t in request.history]
        messages.append({"role": "user", "content": request.text})
        try:
            completion = await self.client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=self.max_tokens
            )
        except openai.OpenAIError as exc:
            raise BrainError(f"openai: {exc!r}") from None
        if not completion.choices:
            raise BrainError("openai: the completion has no choices")
        content = completion.choices[0].message.content or ""
        return BrainReply([content.strip()] if content.strip() else [])


async def transcribe(
    client: openai.AsyncOpenAI,
    *,
    model: str,
    language: str | None,
    data: bytes,
    mime_type: str,
    file_name: str,
) -> str:
    """What is said in an audio file, by the ``/audio/transcriptions`` endpoint."""
    try:
        result = await client.audio.transcriptions.create(
            model=model,
            file=(file_name, data, mime_type),
            language=language or openai.omit,
            response_format="json",
        )
    except openai.OpenAIError as exc:
        raise BrainError(f"transcription: {exc!r}") from None
    text: str = result.text
    return text.strip()


def make_client(
    *, api_key: str | None, base_url: str | None, timeout_s: float, allow_private: bool
) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=api_key or "not-needed",  # local compatible servers often take any key
        base_url=base_url,
        timeout=timeout_s,
        max_retries=0,  # the engine decides what a failure means
        http_client=sdk_http_client(allow_private=allow_private),
    )
