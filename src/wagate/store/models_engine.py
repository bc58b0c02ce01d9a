"""The conversation engine's tables (see ``wagate/engine``). Imported by ``models``.

Everything the engine knows lives here, so a restart or a second worker
loses and duplicates nothing: chat state and its resume timer, the batching
buffer, batches with their lease and the brain's answer, the timeline of
engine steps, and the engine's cursor on the event log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wagate.store.models import Base, Id
from wagate.store.types import BigIntPk


class Assistant(Base):
    """A session's engine settings (``PUT /v1/sessions/{id}/assistant``); secrets sealed."""

    __tablename__ = "assistants"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    enabled: Mapped[bool] = mapped_column(Boolean)
    config: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Conversation(Base):
    """One chat of one session as the engine sees it: who answers, and what waits.

    ``state`` is ``bot``, ``paused`` (with ``paused_reason`` and, for a human
    reply, ``resume_at``: a durable timer) or ``off``. The batching buffer's
    timer is ``batch_due_at``: when the window after the last message ends;
    ``batch_first_at`` bounds it by the maximum wait. ``typing`` holds the
    window open while the contact types or records.
    """

    __tablename__ = "conversations"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(10))
    paused_reason: Mapped[str | None] = mapped_column(String(40))
    paused_at: Mapped[datetime | None]
    resume_at: Mapped[datetime | None] = mapped_column(index=True)
    last_message_at: Mapped[datetime | None]
    typing: Mapped[bool] = mapped_column(Boolean, default=False)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    batch_first_at: Mapped[datetime | None]
    batch_due_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class EngineInbox(Base):
    """An inbound message waiting in its chat's batching buffer (unique: buffered once)."""

    __tablename__ = "engine_inbox"
    __table_args__ = (Index("ix_engine_inbox_chat", "session_id", "chat_id", "batch_id"),)

    seq: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    chat_id: Mapped[str] = mapped_column(String(128))
    message_id: Mapped[str] = mapped_column(Id, unique=True)
    batch_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]


class EngineBatch(Base):
    """The messages of one flush, answered by one brain call.

    ``status``: ``ready`` (flushed, nobody works on it), ``running`` (a worker
    holds ``lease_owner`` until ``lease_expires_at``), ``done``, ``skipped``
    (the chat was paused before it was answered) or ``failed``. ``reply`` is
    the brain's answer, committed before any part is accepted, so a batch
    resumed after a crash accepts the same parts under the same idempotency
    keys instead of asking the brain again.
    """

    __tablename__ = "engine_batches"
    __table_args__ = (
        Index("ix_engine_batches_status", "status", "lease_expires_at"),
        Index("ix_engine_batches_chat", "session_id", "chat_id"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    chat_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(20))
    message_ids: Mapped[list[str]]
    reply: Mapped[dict[str, Any] | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class EngineStep(Base):
    """What the engine did in a chat, for the timeline: batched, brain called, replied..."""

    __tablename__ = "engine_steps"
    __table_args__ = (Index("ix_engine_steps_chat", "session_id", "chat_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    chat_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class EngineCursor(Base):
    """A reader of the event log: how far it has applied, and which worker reads it now."""

    __tablename__ = "engine_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    cursor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class ChatwootLink(Base):
    """A session's Chatwoot inbox (``PUT /v1/sessions/{id}/chatwoot``): where its chats are
    mirrored, and how agents' replies come back. The access token is sealed; the webhook
    token (in the inbox's webhook URL) is kept as its SHA-256 only."""

    __tablename__ = "chatwoot_links"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    enabled: Mapped[bool] = mapped_column(Boolean)
    url: Mapped[str] = mapped_column(String(2048))
    account_id: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(String(2048))  # sealed
    inbox_id: Mapped[int] = mapped_column(Integer)
    inbox_name: Mapped[str] = mapped_column(String(255))
    webhook_token_hash: Mapped[str] = mapped_column(String(64))
    sign_messages: Mapped[bool] = mapped_column(Boolean)
    reopen_conversation: Mapped[bool] = mapped_column(Boolean)
    conversation_pending: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ChatwootConversation(Base):
    """Which Chatwoot conversation mirrors a chat: kept, so that a restart continues it
    rather than opening a second one."""

    __tablename__ = "chatwoot_conversations"
    __table_args__ = (
        Index("ix_chatwoot_conversations_conversation", "session_id", "conversation_id"),
    )

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer)
    conversation_id: Mapped[int] = mapped_column(Integer)
    source_id: Mapped[str | None] = mapped_column(String(255))
    contact_name: Mapped[str | None] = mapped_column(String(255))
    """The name wagate gave the contact or found it with (None: from before 0014)."""
    updated_at: Mapped[datetime]


class ChatwootMessage(Base):
    """Which Chatwoot message shows a message sent on WhatsApp (posted by the mirror, or
    an agent's reply): its receipts become that message's ticks in Chatwoot."""

    __tablename__ = "chatwoot_messages"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    message_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(Integer)
    chatwoot_message_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
