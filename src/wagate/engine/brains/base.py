"""What a brain is given and what it answers, and the reply formats of external brains.

A brain gets one batch (the messages a contact wrote before the window
closed) with the chat's earlier history, and answers zero or more text parts,
or a voice note. :func:`parse_reply` reads every reply format of seed 000's
external brain: ``output``/``reply``/``message``/``text``/``messages``/
``replies``, each a string or a list; ``audio_base64`` (with
``audio_mimetype``/``audio_mime``) or ``audio_url``/``audioUrl``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

TEXT_KEYS = ("output", "reply", "message", "text", "messages", "replies")


class BrainError(Exception):
    """The brain failed or answered something unusable; the engine falls back."""


@dataclass(frozen=True, slots=True)
class Turn:
    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True, slots=True)
class BrainRequest:
    session_id: str
    chat_id: str
    phone: str | None
    push_name: str | None
    batch_id: str
    messages: list[dict[str, Any]]  # the batch, as message JSON, oldest first
    history: list[Turn]  # earlier turns of the chat, oldest first
    system_prompt: str | None

    @property
    def text(self) -> str:
        """The batch as one user turn: its texts (or types, for media without caption)."""
        return "\n".join(describe(m) for m in self.messages)


def describe(message: dict[str, Any]) -> str:
    """A message as a line of the user's turn: its text, a voice note's transcript, or its
    type."""
    text = message.get("text") or message.get("transcript")
    if text:
        return str(text)
    return f"[{message.get('type', 'message')}]"


@dataclass(frozen=True, slots=True)
class Audio:
    data: bytes | None = None
    url: str | None = None
    mime_type: str | None = None


@dataclass(frozen=True, slots=True)
class BrainReply:
    parts: list[str] = field(default_factory=list)
    audio: Audio | None = None

    def to_json(self) -> dict[str, Any]:
        audio = None
        if self.audio is not None:
            audio = {
                "base64": base64.b64encode(self.audio.data).decode() if self.audio.data else None,
                "url": self.audio.url,
                "mime_type": self.audio.mime_type,
            }
        return {"parts": list(self.parts), "audio": audio}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> BrainReply:
        audio = body.get("audio")
        return cls(
            parts=[str(p) for p in body.get("parts") or []],
            audio=Audio(
                data=base64.b64decode(audio["base64"]) if audio.get("base64") else None,
                url=audio.get("url"),
                mime_type=audio.get("mime_type"),
            )
            if audio
            else None,
        )


class Brain(Protocol):
    async def reply(self, request: BrainRequest) -> BrainReply: ...


def parse_reply(body: Any) -> BrainReply:
    """Any reply format of seed 000 (and a plain string, or a list of those objects)."""
    if body is None:
        return BrainReply()
    if isinstance(body, str):
        return BrainReply(_texts(body))
    if isinstance(body, list):
        if all(isinstance(item, str) for item in body):
            return BrainReply(_texts(body))
        parts: list[str] = []
        audio: Audio | None = None
        for item in body:  # n8n answers a list of items: [{"output": "..."}]
            one = parse_reply(item)
            parts += one.parts
            audio = audio or one.audio
        return BrainReply(parts, audio)
    if not isinstance(body, dict):
        raise BrainError(f"unusable reply: {type(body).__name__}")
    audio = _audio(body)
    if audio is not None:  # a voice reply; its `output` is a status line, not a message
        return BrainReply([], audio)
    for key in TEXT_KEYS:
        if key in body and body[key] is not None:
            return BrainReply(_texts(body[key]))
    return BrainReply()


def _texts(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    parts: list[str] = []
    for item in items:
        if isinstance(item, dict):
            parts += parse_reply(item).parts
        elif item is not None and str(item).strip():
            parts.append(str(item).strip())
    return parts


def _audio(body: dict[str, Any]) -> Audio | None:
    mime = body.get("audio_mimetype") or body.get("audio_mime")
    encoded = body.get("audio_base64")
    if isinstance(encoded, str) and encoded:
        if encoded.startswith("data:"):
            header, _, encoded = encoded.partition(",")
            mime = mime or header[5:].split(";")[0] or None
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise BrainError("audio_base64 is not valid base64") from None
        return Audio(data=data, mime_type=mime)
    url = body.get("audio_url") or body.get("audioUrl")
    if isinstance(url, str) and url:
        return Audio(url=url, mime_type=mime)
    return None
