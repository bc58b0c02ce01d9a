"""Answers of the conversation engine's routes: chats, their timeline, assistant settings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wagate.api.schemas import MessageOut
from wagate.engine.settings import Batching, BrainKind, Reactions


class ChatOut(BaseModel):
    chat_id: str
    state: Literal["bot", "paused", "off"]
    paused_reason: str | None = None
    paused_at: str | None = None
    resume_at: str | None = None
    last_message_at: str | None = None
    pending: int
    typing: bool


class ChatList(BaseModel):
    items: list[ChatOut]


class TimelineItem(BaseModel):
    """A message of the chat (``kind: message``) or a step of the engine (``kind: step``)."""

    kind: Literal["message", "step"]
    at: str
    message: MessageOut | None = None
    step: str | None = Field(default=None, description="buffered, batched, brain, replied...")
    data: dict[str, Any] | None = None


class Timeline(BaseModel):
    items: list[TimelineItem]


class BrainOut(BaseModel):
    """The brain as shown: its API key and header values never leave the server."""

    kind: BrainKind
    model: str | None = None
    base_url: str | None = None
    url: str | None = None
    system_prompt: str | None = None
    timeout_s: float
    max_tokens: int
    api_key_set: bool
    header_names: list[str]


class TranscriptionOut(BaseModel):
    """Hearing voice notes, as shown: the API key never leaves the server."""

    enabled: bool
    base_url: str | None = None
    model: str
    language: str | None = None
    timeout_s: float
    api_key_set: bool


class AssistantOut(BaseModel):
    enabled: bool
    brain: BrainOut
    history_window: int
    fallback_reply: str | None = None
    batching: Batching
    pacing: str | None = None
    resume_after_s: float
    groups: bool
    allow: list[str]
    ignore: list[str]
    handoff_keywords: list[str]
    reactions: Reactions
    quote_when_batched: bool
    transcription: TranscriptionOut


class HumanReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4096)
