"""Chat state: who answers a chat, and why not the bot."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from wagate.store.models_engine import Conversation
from wagate.store.serialize import iso


class ChatState(StrEnum):
    BOT = "bot"  # the engine answers
    PAUSED = "paused"  # a human answers (or was asked for); the engine stays silent
    OFF = "off"  # the engine never answers this chat


class PauseReason(StrEnum):
    HUMAN_REPLY = "human_reply"  # the owner wrote from the phone; resumes after a quiet time
    HANDOFF = "handoff"  # the contact asked for a human (a keyword); resumes by hand
    MANUAL = "manual"  # POST .../pause; resumes by hand


def conversation_json(row: Conversation) -> dict[str, Any]:
    return {
        "chat_id": row.chat_id,
        "state": row.state,
        "paused_reason": row.paused_reason,
        "paused_at": iso(row.paused_at),
        "resume_at": iso(row.resume_at),
        "last_message_at": iso(row.last_message_at),
        "pending": row.pending,
        "typing": row.typing,
    }
