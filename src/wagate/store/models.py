"""The tables. One class per table; no behaviour beyond columns and constraints.

The schema is changed only by Alembic migrations under ``store/migrations``;
a test checks that the migrations produce exactly these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from wagate.store.types import BigIntPk, JsonColumn, UtcDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = String(40)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UtcDateTime(),
        dict[str, Any]: JsonColumn,
        list[str]: JsonColumn,
        list[dict[str, Any]]: JsonColumn,
    }


class Tenant(Base):
    """An isolated customer of the gateway: its sessions, messages and webhooks."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    max_sessions: Mapped[int | None] = mapped_column(Integer)  # None: the server's default
    created_at: Mapped[datetime]


class ApiKey(Base):
    """A tenant's API key. Only the SHA-256 of the key is stored, except for an Evolution
    instance's token (``session_id`` set): it works for that one session, on the
    ``/evolution`` surface only, and is kept sealed too (``sealed_key``) because
    Evolution shows it again (``fetchInstances``, the webhooks' ``apikey``)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    sealed_key: Mapped[str | None] = mapped_column(Text)


class User(Base):
    """A person who logs in to the dashboard or asks for API tokens.

    ``admin`` users have no tenant and see everything; ``operator`` and ``viewer``
    users belong to exactly one tenant. Only the argon2 hash of the password is kept.
    """

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    disabled_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Login(Base):
    """One signed-in client of a user: a browser (by cookie) or an API client (by tokens).

    The client holds a random secret (the cookie, or the refresh token); only its
    SHA-256 is stored. Access tokens name the login, so revoking it (log out, user
    disabled, password changed) ends them too.
    """

    __tablename__ = "logins"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "browser" or "api"
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Worker(Base):
    """A ``wagate serve`` process sharing the database, as it last reported itself.

    Each worker writes its row in the transaction that renews its leases (no
    extra commit); a row whose ``heartbeat_at`` is older than the lease TTL is a
    worker that died or was stopped.
    """

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(40))
    capacity: Mapped[int] = mapped_column(Integer)
    messages_per_s: Mapped[float] = mapped_column(Float, default=0.0)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]


class SinkCursor(Base):
    """An event sink besides webhooks (RabbitMQ): how far it has published the event log,
    and which worker publishes to it now (one at a time, under a lease with a TTL)."""

    __tablename__ = "sink_cursors"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    cursor_seq: Mapped[int] = mapped_column(BigInteger)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class SessionCommand(Base):
    """A call that needs a session's live connection, made on a worker that does not run
    the session: the worker that does claims it, runs it and writes the answer here."""

    __tablename__ = "session_commands"
    __table_args__ = (Index("ix_session_commands_status_session", "status", "session_id"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    args: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20))  # pending, running, done, failed, abandoned
    result: Mapped[dict[str, Any] | None]
    error: Mapped[dict[str, Any] | None]  # {"code", "message", "status"}
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class Session(Base):
    """A WhatsApp number connected through one transport.

    ``desired_state`` is what the operator asked for; ``status`` is what the
    worker that holds the lease observes. They are separate on purpose.
    """

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), Index("ix_sessions_name", "name"))

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    transport: Mapped[str] = mapped_column(String(20))
    config: Mapped[dict[str, Any]]
    credentials: Mapped[dict[str, Any] | None]
    proxy_url: Mapped[str | None] = mapped_column(String(500))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    desired_state: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    status_reason: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    push_name: Mapped[str | None] = mapped_column(String(200))
    lid: Mapped[str | None] = mapped_column(String(64))
    qr: Mapped[str | None] = mapped_column(Text)
    qr_expires_at: Mapped[datetime | None]
    pairing_code: Mapped[str | None] = mapped_column(String(20))
    settings: Mapped[dict[str, Any]]  # per-session overrides of guardrails, pacing, TTL
    ingest_token: Mapped[str] = mapped_column(String(64))
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_token: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None]
    connected_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Message(Base):
    """A message in either direction. ``seq`` orders the list and backs the cursor."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("session_id", "wa_message_id"),
        Index("ix_messages_session_seq", "session_id", "seq"),
        Index("ix_messages_session_chat_seq", "session_id", "chat_id", "seq"),
        Index("ix_messages_outbox", "session_id", "status", "seq"),
        Index("ix_messages_session_sent_at", "session_id", "sent_at"),
    )

    seq: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(Id, unique=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))
    wa_message_id: Mapped[str | None] = mapped_column(String(128))
    chat_id: Mapped[str] = mapped_column(String(128))
    chat_type: Mapped[str] = mapped_column(String(10))
    sender: Mapped[str | None] = mapped_column(String(128))
    sender_phone: Mapped[str | None] = mapped_column(String(32))
    sender_lid: Mapped[str | None] = mapped_column(String(64))
    push_name: Mapped[str | None] = mapped_column(String(200))
    from_me: Mapped[bool] = mapped_column(Boolean)
    type: Mapped[str] = mapped_column(String(20))
    text: Mapped[str | None] = mapped_column(Text)
    media: Mapped[dict[str, Any] | None]
    location: Mapped[dict[str, Any] | None]
    contacts: Mapped[list[dict[str, Any]] | None]
    reaction: Mapped[dict[str, Any] | None]
    poll: Mapped[dict[str, Any] | None]  # name, options, selectable_count, votes per option
    transcript: Mapped[str | None] = mapped_column(Text)  # a voice note's words (assistant)
    reply_to: Mapped[str | None] = mapped_column(String(128))
    timestamp: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    request: Mapped[dict[str, Any] | None]
    humanize: Mapped[bool | None] = mapped_column(Boolean)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    hold_reason: Mapped[str | None] = mapped_column(String(40))  # why it waits (guardrails)
    proactive: Mapped[bool | None] = mapped_column(Boolean)  # no inbound from the chat in 24 h
    expires_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    edited_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


_OPEN = text("status IN ('queued', 'sending')")
Index(  # small: only messages the senders still have to transmit
    "ix_messages_open_outbound",
    Message.session_id,
    Message.seq,
    sqlite_where=_OPEN,
    postgresql_where=_OPEN,
)
OUTBOUND_TEXT = text("direction = 'out' AND type = 'text'")
Index(  # the duplicate-text guardrail: a chat's recent outbound texts, by time
    "ix_messages_outbound_text_recent",
    Message.session_id,
    Message.chat_id,
    Message.created_at,
    sqlite_where=OUTBOUND_TEXT,
    postgresql_where=OUTBOUND_TEXT,
)
Index(
    "ix_messages_idempotency",
    Message.session_id,
    Message.idempotency_key,
    unique=True,
)


class PollVote(Base):
    """One person's current choice in a poll a session sent (a new vote replaces it)."""

    __tablename__ = "poll_votes"

    message_id: Mapped[str] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    voter: Mapped[str] = mapped_column(String(128), primary_key=True)
    options: Mapped[list[str]]
    voted_at: Mapped[datetime]


class IdempotencyKey(Base):
    """An ``Idempotency-Key`` seen on a send, kept at least 24 h.

    The row is committed before the request is processed, so a second request
    with the same key while the first is still running can be told so (409).
    """

    __tablename__ = "idempotency_keys"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(40))  # None while in flight
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Contact(Base):
    """One person as seen by one session: the same identity by phone number and by @lid."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("session_id", "phone"),
        UniqueConstraint("session_id", "lid"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    phone: Mapped[str | None] = mapped_column(String(32))
    lid: Mapped[str | None] = mapped_column(String(64))
    push_name: Mapped[str | None] = mapped_column(String(200))
    opted_out_at: Mapped[datetime | None]
    blocked_at: Mapped[datetime | None]  # the session blocked them (WhatsApp's block list)
    last_inbound_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Event(Base):
    """The append-only event log. ``seq`` is the cursor; ``id`` is stable for receivers."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_tenant_seq", "tenant_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(Id, unique=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(String(40), index=True)
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Webhook(Base):
    """A tenant's webhook subscription, and its delivery state.

    ``secret`` holds the signing secret sealed with AES-256-GCM (see
    ``events/crypto.py``), never the secret itself. ``cursor_seq`` is the last
    event of the log that has been turned into delivery rows for this
    endpoint. The lease columns say which worker delivers to it; ``version``
    grows with every change made through the API, so that worker reloads.
    """

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]]
    secret: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    ordered: Mapped[bool] = mapped_column(Boolean, default=True)  # a failed event holds back later
    max_in_flight: Mapped[int | None] = mapped_column(Integer)  # None: the global setting
    cursor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None]  # first failure since the last success
    disabled_reason: Mapped[str | None] = mapped_column(String(40))  # gone, failing, manual
    disabled_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    headers: Mapped[str | None] = mapped_column(Text)  # extra request headers, sealed JSON
    managed_by: Mapped[str | None] = mapped_column(String(20))  # "env": WAGATE_WEBHOOK_URL's
    inline_media_max_bytes: Mapped[int | None] = mapped_column(Integer)  # None: links only
    updated_at: Mapped[datetime | None]
    # None: wagate's own event bodies; "evolution": Evolution API's (``events/evolution.py``)
    format: Mapped[str | None] = mapped_column(String(20))
    format_options: Mapped[dict[str, Any] | None]  # the format's own settings


class WebhookDelivery(Base):
    """One event for one endpoint: its attempts so far and how the last one went.

    Rows, not timers: a retry is ``next_attempt_at`` on a row, so it survives
    restarts. ``status`` is ``pending`` (not tried yet), ``failed`` (tried,
    another attempt is scheduled), ``delivered`` or ``dead`` (gave up;
    replayable).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_seq"),
        Index("ix_webhook_deliveries_webhook_status_seq", "webhook_id", "status", "event_seq"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_seq: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("events.seq", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(40))  # also the `webhook-id` header
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)  # HTTP status of the last answer
    last_error: Mapped[str | None] = mapped_column(Text)  # why the last attempt failed
    last_response: Mapped[str | None] = mapped_column(Text)  # the start of the last answer's body
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


_OPEN_DELIVERY = text("status IN ('pending', 'failed')")
Index(  # small: only what the endpoint workers still have to deliver
    "ix_webhook_deliveries_open",
    WebhookDelivery.webhook_id,
    WebhookDelivery.event_seq,
    sqlite_where=_OPEN_DELIVERY,
    postgresql_where=_OPEN_DELIVERY,
)


class DeadLetter(Base):
    """A payload we received but could not understand, kept for inspection and replay."""

    __tablename__ = "dead_letters"

    seq: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(50))
    session_id: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class UnmatchedReceipt(Base):
    """A receipt for a WhatsApp id no outbound message has yet.

    Engines that choose the id themselves (the Cloud API, Evolution) answer the
    send with it, and their status webhook can arrive before the sender has
    committed that answer. The receipt waits here and is applied once the id is
    known; receipts for messages wagate never sent (typed on the phone) expire.
    """

    __tablename__ = "unmatched_receipts"
    __table_args__ = (Index("ix_unmatched_receipts_session_wa", "session_id", "wa_message_id"),)

    seq: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[str] = mapped_column(String(40))
    wa_message_id: Mapped[str] = mapped_column(String(256))
    chat_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


# The conversation engine's tables live in their own module; importing it registers them.
from wagate.store import models_engine as _models_engine  # noqa: E402, F401
