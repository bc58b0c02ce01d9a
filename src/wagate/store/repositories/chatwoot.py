"""Chatwoot links (a session's inbox), the conversations that mirror its chats, and the
Chatwoot messages that show its sent messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import NotFound
from wagate.store.models_engine import ChatwootConversation, ChatwootLink, ChatwootMessage
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
    for table in (ChatwootConversation, ChatwootMessage):
        await db.execute(delete(table).where(table.session_id == session_id))
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
    contact_name: str | None,
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
                contact_name=contact_name,
                updated_at=now,
            )
        )
    else:
        row.contact_id = contact_id
        row.conversation_id = conversation_id
        row.source_id = source_id
        row.contact_name = contact_name if contact_name is not None else row.contact_name
        row.updated_at = now
    await db.flush()


async def set_contact_name(
    db: AsyncSession, session_id: str, chat_id: str, name: str, now: datetime
) -> None:
    row = await conversation_of(db, session_id, chat_id)
    if row is not None:
        row.contact_name = name
        row.updated_at = now
        await db.flush()


async def remember_message(
    db: AsyncSession,
    *,
    session_id: str,
    message_ids: list[str],
    conversation_id: int,
    chatwoot_message_id: int,
    now: datetime,
) -> None:
    """The Chatwoot message that shows these sent messages (an agent's reply with files is
    several). Remembering one again (a webhook posted twice, even at once) keeps the first."""
    if not message_ids:
        return
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    rows = [
        {
            "session_id": session_id,
            "message_id": message_id,
            "conversation_id": conversation_id,
            "chatwoot_message_id": chatwoot_message_id,
            "created_at": now,
        }
        for message_id in message_ids
    ]
    await db.execute(
        insert(ChatwootMessage)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["session_id", "message_id"])
    )


async def message_shown_by(
    db: AsyncSession, session_id: str, message_id: str
) -> ChatwootMessage | None:
    return await db.get(ChatwootMessage, (session_id, message_id))
