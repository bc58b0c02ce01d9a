"""Anthropic's Messages API through the official SDK."""

from __future__ import annotations

from typing import Any

import anthropic

from wagate.engine.brains.base import (
    BrainError,
    BrainReply,
    BrainRequest,
    Turn,
)
from wagate.engine.brains.sdk_http import sdk_http_client


class AnthropicBrain:
    def __init__(self, client: anthropic.AsyncAnthropic, model: str, max_tokens: int) -> None:
        self.client = client
        self.model = model
        self.max_tokens = max_tokens

    async def reply(self, request: BrainRequest) -> BrainReply:
        turns = _alternating([*request.history, Turn("user", request.text)])
        messages: list[Any] = [{"role": t.role, "content": t.text} for t in turns]
        kwargs: dict[str, Any] = {}
        if request.system_prompt:
            kwargs["system"] = request.system_prompt
        try:
            message = await self.client.messages.create(
                model=self.model,
                max_tokens=self.max_tokens,
                messages=messages,
                **kwargs,
            )
        except anthropic.AnthropicError as exc:
            raise BrainError(f"anthropic: {exc!r}") from None
        text = "".join(getattr(block, "text", "") for block in message.content).strip()
        return BrainReply([text] if text else [])


def _alternating(turns: list[Turn]) -> list[Turn]:
    """The Messages API wants user first and roles alternating: merge neighbours."""
    merged: list[Turn] = []
    for turn in turns:
        if merged and merged[-1].role == turn.role:
            merged[-1] = Turn(turn.role, f"{merged[-1].text}\n{turn.text}")
        else:
            merged.append(turn)
    while merged and merged[0].role != "user":
        merged.pop(0)
    return merged


def make_client(
    *, api_key: str | None, base_url: str | None, timeout_s: float, allow_private: bool
) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key=api_key or "not-needed",
        base_url=base_url,
        timeout=timeout_s,
        max_retries=0,
        http_client=sdk_http_client(allow_private=allow_private),
    )
