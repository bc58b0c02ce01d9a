"""Settings: one validated object, built explicitly (never at import).

Every field is read from a ``WAGATE_<FIELD>`` environment variable or an
optional ``.env`` file. The names are flat on purpose: each variable maps to
exactly one field, and ``docs/configuration.md`` is generated from this class
(``wagate config-docs``) and kept in sync by a test.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from wagate.domain import ConfigError
from wagate.domain.headers import check_headers

Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]


MIN_API_KEY_LENGTH = 32


class Settings(BaseSettings):
    """wagate's settings. Field descriptions become the configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="WAGATE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # ------------------------------------------------------------------ server
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: Port = Field(8000, description="Port the HTTP server listens on.")
    data_dir: Path = Field(
        Path("./data"), description="Directory for the SQLite database, media and credentials."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL. Default: SQLite in the data dir. "
        "PostgreSQL: `postgresql+asyncpg://user:pass@host/db`.",
    )
    api_key: SecretStr | None = Field(
        None,
        description="The admin key, at least 32 characters. When unset on first start, one "
        "is generated into `<data dir>/admin-key` (mode 0600) and printed once.",
    )
    allow_private_urls: bool = Field(
        False,
        description="Let webhook and media URLs point at loopback and private addresses "
        "(local tests, a local n8n).",
    )
    retain_events_days: float = Field(
        30,
        ge=0,
        description="Days events are kept (those a webhook still has to deliver stay); "
        "0 keeps them forever.",
    )
    retain_deliveries_days: float = Field(
        30, ge=0, description="Days finished webhook deliveries are kept; 0: forever."
    )
    retain_dead_letters_days: float = Field(
        30, ge=0, description="Days payloads nobody could parse are kept; 0: forever."
    )
    retain_engine_steps_days: float = Field(
        30, ge=0, description="Days the conversation engine's timeline steps are kept; 0: forever."
    )
    retain_messages_days: float = Field(
        180,
        ge=0,
        description="Days messages are kept, with their media files (messages still to be sent "
        "stay); 0: forever.",
    )
    retention_sweep_s: PositiveSeconds = Field(
        3600.0, description="How often old rows and files are deleted (in batches of 1,000)."
    )
    streams_per_key: int = Field(
        10,
        ge=1,
        description="Live event streams (`GET /v1/events/stream`) one key may have open on a "
        "worker; more get 429 `too_many_streams`.",
    )
    tenant_simulator: bool = Field(
        True,
        description="Let tenant keys create simulator sessions (the admin key always can). "
        "Turn off on a shared server, where the simulator is the operator's tool.",
    )
    evolution_transport: Literal["simulator", "whatsmeow"] = Field(
        "simulator",
        description="The transport of instances created through the Evolution API surface "
        "(`POST /evolution/instance/create`): `whatsmeow` links a real phone by QR code or "
        "pairing code; `simulator` is the built-in test network.",
    )
    tenant_max_sessions: int | None = Field(
        None,
        ge=0,
        description="Sessions a tenant may have, unless the admin sets its own quota "
        "(`PATCH /v1/admin/tenants/{id}`); unset: no limit.",
    )
    media_store: Literal["local", "s3"] = Field(
        "local",
        description="Where message media live: `local` (the data dir; one worker) or `s3` "
        "(an S3-compatible bucket every worker reaches; set the `WAGATE_S3_*` settings).",
    )
    s3_bucket: str | None = Field(None, description="The bucket of `WAGATE_MEDIA_STORE=s3`.")
    s3_endpoint: str | None = Field(
        None,
        description="The S3-compatible server's URL (MinIO, R2, ...); unset: AWS S3. "
        "`http://` is allowed for a server on a private network.",
    )
    s3_region: str = Field("us-east-1", description="The bucket's region.")
    s3_access_key_id: str | None = Field(
        None, description="Unset: the usual AWS credential chain (environment, profile, role)."
    )
    s3_secret_access_key: SecretStr | None = Field(
        None, description="With `WAGATE_S3_ACCESS_KEY_ID`."
    )
    s3_prefix: str = Field("media/", description="Where in the bucket the files go.")
    remote_call_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="How long a worker waits for the session's owner to answer a call that "
        "needs the live connection (pairing code, presence, read receipts, number checks, "
        "group info); then 504 `owner_timeout`.",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are "
        "believed (comma-separated addresses or networks, `*` for any): behind one, the "
        "dashboard sees the browser's address (login throttling) and `https` (Secure cookie, "
        "CSRF origin check).",
    )
    access_token_ttl_s: int = Field(
        900,
        ge=60,
        le=86_400,
        description="Lifetime of a user's access token (`POST /v1/auth/token`); refresh it "
        "with the refresh token before it ends.",
    )
    refresh_token_ttl_s: int = Field(
        30 * 86_400,
        ge=300,
        description="Lifetime of a refresh token; each use replaces it with a new one.",
    )
    login_ttl_s: int = Field(
        12 * 3_600,
        ge=300,
        description="How long a dashboard login (the browser's cookie) lasts.",
    )
    login_free_attempts: int = Field(
        5,
        ge=1,
        description="Failed logins per account and per address before each further attempt "
        "must wait a delay that doubles (1 s, 2 s, ... up to 15 min); 429 `too_many_attempts`.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest log level written."
    )
    log_format: Literal["json", "console"] = Field(
        "json", description="`json` for machines, `console` for people."
    )
    access_log: bool = Field(False, description="Write uvicorn's per-request access log.")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        description="SQLite durability. FULL survives power loss; NORMAL only process crashes.",
    )
    db_pool_size: int = Field(10, ge=1, le=200, description="PostgreSQL connections per process.")

    # ------------------------------------------------------------------ workers and sessions
    worker_id: str | None = Field(
        None,
        description="Name of this worker in session leases and logs; must differ between "
        "workers that share a database. Default: host name and a hash of the data dir.",
    )
    worker_capacity: int = Field(
        500,
        ge=1,
        description="Most sessions one worker runs at once; workers share the fleet's sessions "
        "in proportion to it.",
    )
    lease_ttl_s: PositiveSeconds = Field(
        30.0,
        description="How long a worker's claim on a session lasts without a renewal (every "
        "third of it); a dead worker's sessions run elsewhere within it plus one renewal.",
    )
    displace_cooldown_s: float = Field(
        60.0,
        ge=0,
        description="How long a running session ranked out of the fleet's capacity (by "
        "priority) keeps running before it gives its place to a better-ranked one.",
    )
    moves_per_minute: int = Field(
        10,
        ge=1,
        description="Sessions one worker gives up in any minute, at most: for better-ranked "
        "ones, or to a worker below its share of the fleet (no thrash when priorities change "
        "in bulk or a worker joins).",
    )
    restore_concurrency: int = Field(
        8, ge=1, description="Sessions started at once when restoring on boot."
    )
    shutdown_timeout_s: Seconds = Field(
        10.0, description="On SIGTERM, how long in-flight sends may finish before closing."
    )
    reconnect_backoff_s: list[float] = Field(
        [2, 5, 10, 20, 40, 60],
        description="Delays between reconnect attempts (JSON list), the last repeated.",
    )
    reconnect_max_attempts: int = Field(
        10, ge=1, description="Reconnect attempts before a session is `failed`."
    )
    stable_connection_s: PositiveSeconds = Field(
        60.0, description="A connection up this long resets the reconnect attempt count."
    )
    qr_max_codes: int = Field(
        5, ge=1, description="Unscanned QR codes before a session stops with `qr_timeout`."
    )
    keepalive_interval_s: PositiveSeconds = Field(30.0, description="Watchdog keepalive period.")
    keepalive_timeout_s: PositiveSeconds = Field(10.0, description="Keepalive answer deadline.")
    idle_reconnect_s: PositiveSeconds = Field(
        300.0, description="No traffic for this long forces a reconnect."
    )
    bad_mac_window_s: PositiveSeconds = Field(
        60.0, description="Window in which decrypt failures are counted."
    )
    bad_mac_threshold: int = Field(
        20, ge=1, description="Decrypt failures in the window that trip the circuit breaker."
    )
    bad_mac_cooldown_s: Seconds = Field(
        30.0, description="Wait after the breaker trips before asking for a new QR."
    )
    default_proxy_url: str | None = Field(
        None, description="Proxy for sessions without their own (`socks5://` or `http://`)."
    )
    cloud_graph_url: str = Field(
        "https://graph.facebook.com",
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="Base URL of Meta's Graph API for `cloud` sessions (tests point it at "
        "a local fake).",
    )

    # ------------------------------------------------------------------ outbound
    sender_poll_s: PositiveSeconds = Field(
        1.0, description="How often a sender looks for queued messages when not woken."
    )
    message_ttl_s: PositiveSeconds = Field(
        86400.0, description="A message not sent within this time fails as `expired`."
    )
    send_max_attempts: int = Field(
        8, ge=1, description="Transmission attempts before a message fails."
    )
    media_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest media file accepted or downloaded."
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest request body of routes without media (sessions, settings, "
        "webhooks...); the send and simulator routes take about 4/3 of `WAGATE_MEDIA_MAX_BYTES` "
        "(media in base64), bulk sends 8 MiB more. Larger bodies get 413 `payload_too_large`.",
    )
    ingest_max_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        description="Largest body of the ingest routes (Cloud API and Evolution webhooks; "
        "Evolution's takes media in base64 too, up to the send routes' limit).",
    )
    media_fetch_timeout_s: PositiveSeconds = Field(
        30.0, description="Timeout for downloading media from a URL."
    )
    rate_per_minute: int = Field(10, ge=1, description="Default per-recipient messages per minute.")
    burst_size: int = Field(
        3, ge=1, description="Rapid messages to one recipient before cool-down."
    )
    burst_window_s: Seconds = Field(
        10.0, description="Sends to one recipient this close together count as a burst."
    )
    burst_cooldown_s: Seconds = Field(30.0, description="Cool-down after a burst.")
    daily_cap: int = Field(
        1000, ge=1, description="Default proactive messages per session per day."
    )
    duplicate_window_s: Seconds = Field(
        300.0, description="Same text to the same recipient within this time is a duplicate."
    )
    opt_out_keywords: list[str] = Field(
        ["STOP", "PARAR", "SAIR", "CANCELAR", "UNSUBSCRIBE"],
        description="Inbound messages that opt a contact out (JSON list).",
    )
    timezone: str = Field("UTC", description="Default time zone for quiet hours and daily caps.")
    quiet_hours: str | None = Field(
        None,
        description="Default quiet hours for proactive messages, `HH:MM-HH:MM` (e.g. "
        "`22:00-08:00`); unset means none.",
    )
    pacing: Literal["instant", "fast", "normal", "slow"] = Field(
        "normal",
        description="Default typing-simulation profile for sends (a message's `humanize: "
        "false` skips it).",
    )
    number_check_ttl_s: PositiveSeconds = Field(
        86400.0,
        description="How long the JID a number check gave is used for sends to that number "
        "(a number with no account: a tenth of it). The first send to a number checks it "
        "where the transport can: Brazil's older 8-digit accounts, numbers not on WhatsApp.",
    )
    idempotency_ttl_s: PositiveSeconds = Field(
        86400.0, description="How long an `Idempotency-Key` is remembered."
    )

    # ------------------------------------------------------------------ events
    webhook_secret_key: SecretStr | None = Field(
        None,
        description="Key that encrypts webhook secrets at rest (AES-256-GCM): 32 bytes in "
        "base64, e.g. from `openssl rand -base64 32`. Default: generated into "
        "`<data dir>/secret-key`. Workers that share a database need the same key.",
    )
    webhook_retry_schedule_s: list[float] = Field(
        [0, 5, 300, 1800, 7200, 18000, 36000, 36000],
        description="Delays of the webhook delivery attempts (JSON list).",
    )
    webhook_timeout_s: PositiveSeconds = Field(10.0, description="Webhook request timeout.")
    webhook_max_in_flight: int = Field(
        8, ge=1, description="Concurrent deliveries per webhook endpoint."
    )
    webhook_disable_after_s: PositiveSeconds = Field(
        5 * 86400.0, description="An endpoint failing this long is disabled."
    )
    webhook_delivery_retention_s: PositiveSeconds = Field(
        7 * 86400.0,
        description="Delivered webhook deliveries are listed this long, then deleted "
        "(dead ones are kept until replayed or their webhook is deleted).",
    )
    control_plane_url: str | None = Field(
        None,
        description="Take instances, priorities, the outbound queue and instance locks from "
        "a control plane speaking wa-worker's HTTP contract (its `EDGE_BASE_URL`), and "
        "report statuses, sends and inbound messages back (docs/control-plane.md).",
    )
    control_plane_secret: SecretStr | None = Field(
        None, description="The control plane's `WORKER_SECRET` (sent as a bearer token)."
    )
    control_plane_transport: Literal["simulator", "whatsmeow"] = Field(
        "whatsmeow", description="The transport of the control plane's instances."
    )
    control_plane_discovery_s: PositiveSeconds = Field(
        10.0, description="How often the control plane's instances and settings are read."
    )
    control_plane_queue_poll_s: PositiveSeconds = Field(
        2.0, description="How often each instance's queued messages are read."
    )
    control_plane_lock_ttl_s: PositiveSeconds = Field(
        30.0, description="The TTL of the control plane's instance locks (renewed at half)."
    )
    control_plane_stop_cooldown_s: Seconds = Field(
        60.0,
        description="How long a connected instance that fell out of the top "
        "`max_active_instances` keeps running before it is stopped (no thrash).",
    )
    rabbitmq_url: SecretStr | None = Field(
        None,
        description="Publish every event to RabbitMQ too (`amqp://user:password@host:5672/"
        "vhost`): persistent messages with publisher confirms, at least once, in log "
        "order, from a durable cursor; one worker of the fleet publishes at a time.",
    )
    rabbitmq_exchange: str = Field(
        "wagate.events",
        min_length=1,
        max_length=255,
        description="The durable topic exchange events go to; the routing key is the event "
        "type (`message.received`...).",
    )
    rabbitmq_events: Annotated[list[str], NoDecode] = Field(
        ["*"],
        description="Event types published to RabbitMQ: comma-separated or a JSON list (`*` "
        "for all).",
    )
    public_url: str | None = Field(
        None,
        description="The address receivers reach wagate at (e.g. `https://wa.example.com`): "
        "media links in webhooks, the live stream and brains' requests are made absolute "
        "with it. Unset: they are relative to the server.",
    )
    media_link_ttl_s: PositiveSeconds = Field(
        86400.0,
        description="How long a signed media link works after it was made (each webhook "
        "attempt makes a fresh one).",
    )
    media_link_key_id: int = Field(
        1,
        ge=1,
        description="Key of the signed media links: links are made with this one and the "
        "one before it still opens; raise it by one to retire the older links, by two to "
        "end every link issued so far.",
    )
    webhook_url: str | None = Field(
        None,
        description="A webhook of the default tenant, for every session, kept in step with "
        "this setting at each start: created when set, updated in place when changed, "
        "deleted when unset (webhooks made through the API are not touched).",
    )
    webhook_events: Annotated[list[str], NoDecode] = Field(
        ["*"],
        description="Event types of `WAGATE_WEBHOOK_URL`'s webhook: comma-separated or a "
        "JSON list (`*` for all).",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Signing secret of `WAGATE_WEBHOOK_URL`'s webhook (`whsec_` and base64, "
        "Standard Webhooks). Default: generated once, shown in the log at its creation, "
        "and kept.",
    )
    webhook_headers: dict[str, str] = Field(
        {},
        description="Extra request headers of `WAGATE_WEBHOOK_URL`'s webhook (JSON object, "
        'e.g. `{"X-Api-Key": "..."}`).',
    )
    engine_enabled: bool = Field(
        True,
        description="Run the conversation engine (AI replies, human takeover) in this worker.",
    )
    engine_poll_s: PositiveSeconds = Field(
        1.0,
        description="How often the conversation engine looks for work written by other "
        "workers (this process's events wake it at once).",
    )
    engine_concurrency: int = Field(
        64, ge=1, description="Batches the conversation engine answers at once in this worker."
    )
    events_poll_s: PositiveSeconds = Field(
        1.0,
        description="How often webhook delivery and live streams look for events written by "
        "other workers (events of this process wake them at once).",
    )

    # ------------------------------------------------------------------ conversation engine
    openai_api_key: SecretStr | None = Field(None, description="Default OpenAI key for brains.")
    anthropic_api_key: SecretStr | None = Field(
        None, description="Default Anthropic key for brains."
    )
    human_keywords: list[str] = Field(
        ["humano", "atendente", "human"],
        description="Words from a contact that pause the bot and ask for a human (JSON list).",
    )
    resume_after_s: PositiveSeconds = Field(
        7200.0, description="Quiet time of a human before the bot resumes a chat."
    )

    # ------------------------------------------------------------------ whatsmeow
    whatsmeow_sessions_per_host: int = Field(
        5,
        ge=1,
        description="whatsmeow sessions per engine host process. A Go panic in one session "
        "takes down the sessions on its host (they reconnect on a new one), never the API.",
    )
    whatsmeow_restart_backoff_s: list[float] = Field(
        [1.0, 2.0, 5.0, 15.0, 30.0, 60.0],
        description="Delays before starting an engine host after consecutive host crashes "
        "(JSON list; the last repeats).",
    )
    whatsmeow_host_stable_s: PositiveSeconds = Field(
        60.0, description="An engine host that lived this long resets the crash backoff."
    )

    # ------------------------------------------------------------------ simulator
    simulator_seed: int = Field(0, description="Seed of the simulator network (determinism).")
    simulator_delivery_delay_s: Seconds = Field(
        0.5, description="Simulated delay before a recipient's delivery receipt."
    )
    simulator_read_delay_s: Seconds = Field(
        2.0, description="Simulated delay before a recipient's read receipt."
    )

    @field_validator(
        "reconnect_backoff_s", "webhook_retry_schedule_s", "whatsmeow_restart_backoff_s"
    )
    @classmethod
    def _non_empty_non_negative(cls, value: list[float]) -> list[float]:
        if not value or any(v < 0 for v in value):
            raise ValueError("expected a non-empty JSON list of non-negative numbers")
        return value

    @field_validator("api_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None  # unset, or set empty (a compose file's `${WAGATE_API_KEY:-}`)
        if len(value.get_secret_value().strip()) < MIN_API_KEY_LENGTH:
            raise ValueError(
                f"the admin key needs at least {MIN_API_KEY_LENGTH} characters "
                "(unset it to have one generated)"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        text = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", text):
            raise ValueError(
                "expected an absolute http(s) URL without query, e.g. https://wa.example.com"
            )
        return text

    @field_validator("rabbitmq_url")
    @classmethod
    def _amqp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None  # set empty: a compose file's `${WAGATE_RABBITMQ_URL:-}`
        if not value.get_secret_value().strip().startswith(("amqp://", "amqps://")):
            raise ValueError("expected amqp://user:password@host:5672/vhost (or amqps://)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("webhook_events", "rabbitmq_events", mode="before")
    @classmethod
    def _event_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _standard_webhooks_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        text = value.get_secret_value().strip()
        try:
            key = base64.b64decode(text.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not text.startswith("whsec_") or len(key) < 24:
            raise ValueError("expected whsec_ and at least 24 bytes in base64")
        return SecretStr(text)

    @field_validator("webhook_headers")
    @classmethod
    def _allowed_headers(cls, value: dict[str, str]) -> dict[str, str]:
        return check_headers(value)

    @field_validator("webhook_secret_key")
    @classmethod
    def _aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        try:
            key = base64.b64decode(value.get_secret_value().strip(), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ValueError("expected 32 bytes in base64 (openssl rand -base64 32)")
        return value

    @model_validator(mode="after")
    def _control_plane_needs_its_secret(self) -> Settings:
        if self.control_plane_url and self.control_plane_secret is None:
            raise ValueError("WAGATE_CONTROL_PLANE_URL needs WAGATE_CONTROL_PLANE_SECRET")
        if self.control_plane_url and self.control_plane_lock_ttl_s <= self.lease_ttl_s / 3:
            raise ValueError(  # the locks are renewed at each lease pass, a third of the TTL
                "WAGATE_CONTROL_PLANE_LOCK_TTL_S must be longer than WAGATE_LEASE_TTL_S / 3"
            )
        return self

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> Settings:
        if self.media_store == "s3" and not self.s3_bucket:
            raise ValueError("WAGATE_MEDIA_STORE=s3 needs WAGATE_S3_BUCKET")
        return self

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER:PASS@HOST/DB"
            )
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("expected HH:MM-HH:MM such as 22:00-08:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as Europe/Lisbon") from None
        return value

    # ------------------------------------------------------------------ derived
    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'wagate.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; turn a validation error into one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except SettingsError as exc:  # a list setting that is not JSON
        match = re.search(r'field "(\w+)"', str(exc))
        field = match.group(1) if match else "?"
        raise ConfigError(
            f"invalid setting WAGATE_{field.upper()}: expected a JSON list such as [2, 5, 10]"
        ) from None


_SECRET_FIELDS = frozenset(
    {
        "api_key",
        "webhook_secret_key",
        "webhook_secret",
        "webhook_headers",
        "rabbitmq_url",
        "openai_api_key",
        "anthropic_api_key",
    }
)


def describe_validation_error(exc: ValidationError) -> str:
    """``WAGATE_PORT: expected an integer from 1 to 65535, got 'abc'``, one per bad field."""
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        variable = f"WAGATE_{field.upper()}"
        got = error.get("input")
        if field in _SECRET_FIELDS:
            got = "<hidden>"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{variable}: {message} (got {got!r})")
    return "invalid setting " + "; ".join(parts)
