"""Chatwoot links (a session's inbox) and the conversations that mirror its chats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import NotFound
from wagate.store.models_engine import ChatwootConversation, ChatwootLink
from wagate.store.repositories import sinks


def sink_name(session_id: str) -> str:
    """The link's cursor in the event log (``sink_cursors``)."""
    return f"chatwoot:{session_id}"


async def find_link(db: AsyncSession, session_id: str) -> ChatwootLink | None:
    return await db.get(ChatwootLink, session_id)


async def get_link(db: AsyncSession, session_id: str) -> ChatwootLink:
    link = await find_link(db, session_id)
    if link is None:
        raise NotFound("this session has no Chatwoot inbox", code="chatwoot_not_linked")
    return link


async def save_link(
    db: AsyncSession, session_id: str, values: dict[str, Any], now: datetime
) -> ChatwootLink:
    """Create or change the session's link. A new link starts mirroring at the log's end:
    its cursor is made here, in the same transaction, so no event in between is lost."""
    link = await find_link(db, session_id)
    if link is None:
        link = ChatwootLink(session_id=session_id, created_at=now, updated_at=now, **values)
        db.add(link)
        await sinks.start(db, sink_name(session_id), now)
    else:
        for name, value in values.items():
            setattr(link, name, value)
        link.updated_at = now
    await db.flush()
    return link


async def delete_link(db: AsyncSession, session_id: str) -> None:
    await db.delete(await get_link(db, session_id))
    await db.execute(
        delete(ChatwootConversation).where(ChatwootConversation.session_id == session_id)
    )
    await sinks.forget(db, sink_name(session_id))


async def enabled_links(db: AsyncSession) -> list[ChatwootLink]:
    query = select(ChatwootLink).where(ChatwootLink.enabled.is_(True))
    return list(await db.scalars(query.order_by(ChatwootLink.session_id)))


async def conversation_of(
    db: AsyncSession, session_id: str, chat_id: str
) -> ChatwootConversation | None:
    return await db.get(ChatwootConversation, (session_id, chat_id))


async def chat_of(db: AsyncSession, session_id: str, conversation_id: int) -> str | None:
    """The chat a Chatwoot conversation mirrors, if it is one of this session's."""
    query = select(ChatwootConversation.chat_id).where(
        ChatwootConversation.session_id == session_id,
        ChatwootConversation.conversation_id == conversation_id,
    )
    return (await db.scalars(query.limit(1))).first()


async def remember_conversation(
    db: AsyncSession,
    *,
    session_id: str,
    chat_id: str,
    contact_id: int,
    conversation_id: int,
    source_id: str | None,
    now: datetime,
) -> None:
    row = await conversation_of(db, session_id, chat_id)
    if row is None:
        db.add(
            ChatwootConversation(
                session_id=session_id,
                chat_id=chat_id,
                contact_id=contact_id,
                conversation_id=conversation_id,
                source_id=source_id,
                updated_at=now,
            )
        )
    else:
        row.contact_id = contact_id
        row.conversation_id = conversation_id
        row.source_id = source_id
        row.updated_at = now
    await db.flush()
