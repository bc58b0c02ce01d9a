"""Request and response models of the HTTP API (they also make the OpenAPI page)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from wagate.domain import MessageStatus
from wagate.domain.headers import check_headers

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, snake_case")
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="unique per tenant; letters, digits, _.-")
    transport: Literal["simulator", "whatsmeow", "cloud", "evolution"] = "simulator"
    config: dict[str, Any] = Field(default_factory=dict)
    proxy_url: str | None = Field(default=None, max_length=500)
    priority: int = Field(default=0, ge=-1000, le=1000)
    start: bool = Field(default=True, description="start connecting right away")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="delivery policy overrides (see PUT /v1/sessions/{id}/settings)",
    )
    tenant: str | None = Field(
        default=None, description="admin key only: the tenant (name or id) that owns the session"
    )


class SessionUpdate(BaseModel):
    """``PATCH /v1/sessions/{id}``: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] | None = Field(
        default=None,
        description="keys to change in the transport config (a null value removes a key); "
        "e.g. a new Cloud API access_token",
    )
    proxy_url: str | None = Field(default=None, max_length=500, description="null removes it")
    priority: int | None = Field(default=None, ge=-1000, le=1000)


class SessionOut(BaseModel):
    id: str
    name: str
    tenant_id: str
    transport: str
    status: str
    status_reason: str | None = None
    desired_state: str
    phone: str | None = None
    push_name: str | None = None
    priority: int
    proxy_url: str | None = None
    connected_at: str | None = None
    created_at: str
    updated_at: str
    ingest_url: str | None = None


class SessionList(BaseModel):
    items: list[SessionOut]


class QrOut(BaseModel):
    qr: str = Field(description="the raw string encoded in the QR code")
    image: str = Field(description="PNG data URL")
    expires_at: str


class PairingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=8, max_length=32)


class PairingOut(BaseModel):
    code: str


class MessageOut(BaseModel):
    id: str
    session_id: str
    direction: Literal["in", "out"]
    wa_message_id: str | None
    chat_id: str
    chat_type: Literal["direct", "group"]
    sender: str | None
    sender_phone: str | None
    sender_lid: str | None
    push_name: str | None
    from_me: bool
    type: str
    text: str | None
    media: dict[str, Any] | None
    location: dict[str, Any] | None
    contacts: list[dict[str, Any]] | None
    reaction: dict[str, Any] | None
    poll: dict[str, Any] | None = Field(
        default=None,
        description="a poll: name, options, selectable_count, and tallies "
        "([{option, votes}], counted from everyone's current vote)",
    )
    transcript: str | None = Field(
        default=None, description="a voice note's words, when the assistant transcribed it"
    )
    reply_to: str | None
    timestamp: str | None
    status: MessageStatus
    error: ErrorDetail | None
    attempts: int
    waiting: dict[str, Any] | None = Field(
        default=None, description="why a queued message waits: {reason, until}"
    )
    next_attempt_at: str | None
    edited: bool = Field(description="the sender changed the text (edited_at says when)")
    edited_at: str | None
    revoked: bool = Field(description="the sender deleted it for everyone")
    revoked_at: str | None
    target_id: str | None = Field(
        default=None, description="for an edit or revoke: the id of the message it changes"
    )
    sent_at: str | None
    delivered_at: str | None
    read_at: str | None
    created_at: str | None


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    max_sessions: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="its session quota; null: WAGATE_TENANT_MAX_SESSIONS",
    )


class TenantUpdate(BaseModel):
    """``PATCH /v1/admin/tenants/{id}``: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    max_sessions: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="its session quota; null: WAGATE_TENANT_MAX_SESSIONS",
    )


class TenantOut(BaseModel):
    id: str
    name: str
    max_sessions: int | None = None
    created_at: str


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1, max_length=100)


class KeyOut(BaseModel):
    id: str
    tenant_id: str
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None
    key: str | None = Field(default=None, description="the key itself; shown only at creation")


WebhookHeaders = Annotated[
    dict[str, str],
    AfterValidator(check_headers),
    Field(
        description="extra request headers (an API gateway's key, say), stored sealed; "
        "the Standard Webhooks and body headers cannot be set",
        examples=[{"X-Api-Key": "n8n-key"}],
    ),
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    events: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    session_id: str | None = None
    headers: WebhookHeaders | None = None


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    session_id: str | None
    enabled: bool
    created_at: str
    secret: str | None = Field(default=None, description="shown only at creation")
    header_names: list[str] = Field(
        default_factory=list, description="names of its extra headers (values are not shown)"
    )
    managed_by: str | None = Field(
        default=None, description="`env`: the webhook of WAGATE_WEBHOOK_URL, reset at each start"
    )
    format: str | None = Field(
        default=None,
        description="`evolution`: set through /evolution/webhook/set, posts Evolution API's "
        "event shapes; none: wagate's",
    )


class EventOut(BaseModel):
    id: str
    cursor: str
    type: str
    session_id: str | None
    timestamp: str
    data: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class PresenceOut(BaseModel):
    chat_id: str
    state: str


class ReadOut(BaseModel):
    chat_id: str
    message_ids: list[str] = Field(description="the WhatsApp ids marked read")


class NumberCheckOut(BaseModel):
    input: str
    phone: str | None = None
    on_whatsapp: bool
    jid: str | None = None
    error: str | None = Field(default=None, description="`invalid_phone`: not asked")


class NumberCheckList(BaseModel):
    items: list[NumberCheckOut]


class GroupParticipant(BaseModel):
    jid: str | None = None
    phone: str | None = None
    lid: str | None = None
    admin: bool = False
    super_admin: bool = False


class GroupOut(BaseModel):
    jid: str
    subject: str | None = None
    description: str | None = None
    name: str | None = Field(default=None, description="the subject (its earlier name)")
    topic: str | None = Field(default=None, description="the description (its earlier name)")
    owner: str | None = None
    created_at: int | None = Field(default=None, description="Unix seconds")
    announce: bool = False
    locked: bool = False
    participants: list[GroupParticipant] = Field(default_factory=list)


class IngestOut(BaseModel):
    """What an ingest route did with a webhook: ``ok``, or ``ignored`` (not ours to use)."""

    status: Literal["ok", "ignored"]
    events: int
    event: str | None = Field(default=None, description="Evolution's event name")


class TenantList(BaseModel):
    items: list[TenantOut]


class KeyList(BaseModel):
    items: list[KeyOut]
