"""Polls: each person's current vote, and the tallies kept on the poll's message."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.store.models import Message, PollVote


async def poll_for_update(db: AsyncSession, session_id: str, wa_message_id: str) -> Message | None:
    """The session's poll message with this WhatsApp id, locked until the transaction ends
    (votes arriving on two workers at once then count one after the other)."""
    query = (
        select(Message)
        .where(Message.session_id == session_id, Message.wa_message_id == wa_message_id)
        .with_for_update()
    )
    message = (await db.scalars(query)).first()
    return message if message is not None and message.poll is not None else None


async def record_vote(
    db: AsyncSession, poll: Message, voter: str, options: list[str], at: datetime
) -> bool:
    """Store ``voter``'s choice (none: the vote is withdrawn) unless a later one is stored,
    and recount the poll's tallies; False when nothing changed."""
    current = await db.get(PollVote, (poll.id, voter))
    if current is not None and (current.voted_at > at or current.options == options):
        return False
    if current is None and not options:
        return False
    if not options:
        await db.execute(
            delete(PollVote).where(PollVote.message_id == poll.id, PollVote.voter == voter)
        )
    elif current is None:
        db.add(PollVote(message_id=poll.id, voter=voter, options=options, voted_at=at))
    else:
        current.options, current.voted_at = options, at
    await db.flush()
    poll.poll = {**(poll.poll or {}), "tallies": await tallies(db, poll)}
    return True


async def tallies(db: AsyncSession, poll: Message) -> list[dict[str, Any]]:
    """Votes per option, in the poll's order: ``[{"option", "votes"}]``."""
    chosen = await db.scalars(select(PollVote.options).where(PollVote.message_id == poll.id))
    counts = Counter(option for options in chosen for option in options)
    return [
        {"option": option, "votes": counts.get(option, 0)}
        for option in (poll.poll or {}).get("options", [])
    ]


async def votes(db: AsyncSession, message_id: str) -> list[PollVote]:
    """Everyone's current vote in a poll, earliest first."""
    query = (
        select(PollVote)
        .where(PollVote.message_id == message_id)
        .order_by(PollVote.voted_at, PollVote.voter)
    )
    return list(await db.scalars(query))
