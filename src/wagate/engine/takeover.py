"""Pausing and resuming a chat: human takeover, hand-off keywords, the resume timer.

A paused chat's buffered messages are dropped (marked, not deleted): the
human who took over answers them, and the bot must not answer them later.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from wagate.engine import journal
from wagate.engine.state import ChatState, PauseReason
from wagate.store import AsyncSession
from wagate.store.models_engine import Conversation
from wagate.store.repositories import conversations, engine_work
from wagate.store.serialize import iso


async def pause(
    tx: AsyncSession,
    conv: Conversation,
    reason: PauseReason,
    *,
    now: datetime,
    resume_after_s: float | None = None,
    data: dict[str, Any] | None = None,
) -> bool:
    """Pause the chat; True when it was not paused before (``conversation.paused`` emitted).

    A human reply in a chat already paused for a human reply pushes the
    resume timer back (the quiet time counts from the human's last message);
    it does not turn a manual or hand-off pause into one that resumes alone.
    """
    resume_at = now + timedelta(seconds=resume_after_s) if resume_after_s is not None else None
    extra = data or {}
    if conv.state == ChatState.PAUSED:
        if reason is PauseReason.HUMAN_REPLY and conv.paused_reason == PauseReason.HUMAN_REPLY:
            conv.resume_at = resume_at
        conv.updated_at = now
        await journal.step(
            tx, conv, "human_reply", {"resume_at": iso(conv.resume_at), **extra}, now
        )
        return False
    conv.state = ChatState.PAUSED.value
    conv.paused_reason = reason.value
    conv.paused_at = now
    conv.resume_at = resume_at
    dropped = await engine_work.drop_buffer(tx, conv.session_id, conv.chat_id)
    conv.pending = 0
    conv.batch_first_at = None
    conv.batch_due_at = None
    conv.typing = False
    conv.updated_at = now
    body = {"reason": reason.value, "resume_at": iso(resume_at), **extra}
    await journal.event(tx, conv, "conversation.paused", body, now)
    await journal.step(tx, conv, "paused", {**body, "dropped": dropped}, now)
    return True


async def resume(
    tx: AsyncSession,
    session_id: str,
    chat_id: str,
    *,
    now: datetime,
    reason: str,
    due_at: datetime | None = None,
) -> Conversation | None:
    """Back to the bot; ``reason`` ``quiet_time`` resumes only if the timer has passed.

    A timer's step is dated when it was due (``due_at``), so the timeline
    shows it before messages that arrived between then and the firing.
    """
    conv = await conversations.resume(
        tx, session_id, chat_id, now=now, only_due=reason == "quiet_time"
    )
    if conv is None:
        return None
    await journal.event(tx, conv, "conversation.resumed", {"reason": reason}, now)
    await journal.step(tx, conv, "resumed", {"reason": reason}, min(now, due_at or now))
    return conv


def handoff_keyword(text: str | None, keywords: list[str]) -> str | None:
    """The hand-off keyword the contact wrote (a whole word, any case), if any."""
    if not text:
        return None
    lowered = text.casefold()
    for keyword in keywords:
        word = keyword.strip().casefold()
        if word and re.search(rf"(?<!\w){re.escape(word)}(?!\w)", lowered):
            return keyword
    return None
