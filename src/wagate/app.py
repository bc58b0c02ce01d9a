"""The composition root: build every service from settings, own them in the lifespan."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from fastapi import FastAPI

from wagate import __version__, web
from wagate.api import evolution as evolution_surface
from wagate.api.auth import (
    Authenticator,
    AuthSettings,
    CsrfGuard,
    LoginThrottle,
    Passwords,
    TokenSigner,
)
from wagate.api.auth.accounts import Accounts
from wagate.api.errors import install_error_handlers
from wagate.api.guard import BodyGuard, BodyLimits
from wagate.api.keycache import KeyCache
from wagate.api.principal import Principal
from wagate.api.routes import (
    admin,
    auth,
    bulk,
    chats,
    contacts,
    events,
    groups,
    health,
    health_session,
    ingest_cloud,
    ingest_evolution,
    messages,
    profiles,
    sessions,
    simulator,
    users,
    webhooks,
    workers,
)
from wagate.api.routes import assistant as assistant_routes
from wagate.api.routes import chatwoot as chatwoot_routes
from wagate.api.routes import conversations as conversation_routes
from wagate.api.routes import media as media_routes
from wagate.api.routes import (
    settings as settings_routes,
)
from wagate.api.send_body import document_send_body
from wagate.bootstrap import ensure_data_dir, load_or_create_admin_key
from wagate.config import Settings
from wagate.controlplane import ControlPlane, build_control_plane, instance_locks
from wagate.domain import Clock, RetryStrategy, SystemClock
from wagate.domain.policy import DeliveryPolicy, QuietHours
from wagate.domain.public_net import PublicTransport, outbound_transport
from wagate.engine import ConversationEngine, EngineSettings
from wagate.engine.chatwoot import ChatwootBridge, ChatwootLinks
from wagate.engine.chatwoot import http_client as chatwoot_client
from wagate.events import (
    DeliveryMetrics,
    DeliverySettings,
    EventBus,
    EventStreams,
    LogHorizon,
    SecretBox,
    WebhookClient,
    WebhookDispatcher,
    load_or_create_key,
)
from wagate.events.media_out import OutgoingMedia
from wagate.events.rabbitmq import RabbitSettings, RabbitSink, SinkMetrics
from wagate.events.subscriptions import EnvWebhook, Subscriptions
from wagate.observability import Metrics, WriteStatsCollector, configure_logging
from wagate.outbox import AcceptSettings, MediaLoader, OutboundAcceptor, Outbox, SenderSettings
from wagate.sessions import (
    Balance,
    ConfigSecrets,
    ProxyProbe,
    RuntimeSettings,
    SessionHooks,
    SessionManager,
    SessionRuntime,
    WorkerIdentity,
)
from wagate.sessions.remote import RemoteCalls
from wagate.store import Database
from wagate.store.media import LocalMediaStore, MediaStore, S3MediaStore, S3Settings
from wagate.store.media_links import MediaLinks
from wagate.store.repositories import tenants
from wagate.store.retention import RetentionSettings, RetentionSweeper
from wagate.transports import TransportRegistry
from wagate.transports.cloud import (
    SECRET_FIELDS as CLOUD_SECRET_FIELDS,
)
from wagate.transports.cloud import (
    CloudConfig,
    CloudTransport,
    GraphSettings,
    validate_cloud_config,
)
from wagate.transports.evolution import SECRET_FIELDS as EVOLUTION_SECRET_FIELDS
from wagate.transports.evolution import (
    EvolutionConfig,
    EvolutionTransport,
    evolution_config_validator,
)
from wagate.transports.simulator import (
    SimulatorConfig,
    SimulatorNetwork,
    SimulatorSettings,
    SimulatorTransport,
    validate_simulator_config,
)
from wagate.transports.simulator.controls import run_control
from wagate.transports.whatsmeow import EngineSupervisor, SupervisorSettings, WhatsmeowTransport

log = structlog.get_logger("wagate")


def rabbitmq_sink(
    settings: Settings,
    db: Database,
    clock: Clock,
    bus: EventBus,
    horizon: LogHorizon,
    worker_id: str,
    metrics: Metrics,
    links: MediaLinks,
) -> RabbitSink | None:
    """The RabbitMQ sink, when ``WAGATE_RABBITMQ_URL`` is set."""
    if settings.rabbitmq_url is None:
        return None
    return RabbitSink(
        db=db,
        clock=clock,
        bus=bus,
        horizon=horizon,
        settings=RabbitSettings(
            url=settings.rabbitmq_url.get_secret_value(),
            exchange=settings.rabbitmq_exchange,
            events=tuple(settings.rabbitmq_events),
            lease_ttl_s=settings.lease_ttl_s,
            poll_s=settings.events_poll_s,
        ),
        worker_id=worker_id,
        metrics=SinkMetrics(metrics.registry),
        links=links,
    )


def env_webhook(settings: Settings) -> EnvWebhook | None:
    """The webhook ``WAGATE_WEBHOOK_*`` describes, if ``WAGATE_WEBHOOK_URL`` is set."""
    if not settings.webhook_url:
        return None
    secret = settings.webhook_secret
    return EnvWebhook(
        url=settings.webhook_url,
        events=list(settings.webhook_events),
        secret=secret.get_secret_value() if secret is not None else None,
        headers=dict(settings.webhook_headers),
    )


@dataclass
class Services:
    """Everything a request handler may need, built once per application."""

    settings: Settings
    clock: Clock
    db: Database
    metrics: Metrics
    registry: TransportRegistry
    media: MediaStore
    retention: RetentionSweeper
    manager: SessionManager
    outbox: Outbox
    acceptor: OutboundAcceptor
    bus: EventBus
    horizon: LogHorizon
    secret_box: SecretBox
    webhooks: WebhookDispatcher
    subscriptions: Subscriptions
    media_links: MediaLinks
    rabbitmq: RabbitSink | None
    streams: EventStreams
    simulator: SimulatorNetwork | None
    admin_key_digest: bytes
    worker_id: str
    policy_defaults: DeliveryPolicy
    proxy_probe: ProxyProbe
    remote: RemoteCalls
    authenticator: Authenticator
    accounts: Accounts
    csrf: CsrfGuard
    key_cache: KeyCache[Principal] = field(default_factory=KeyCache)
    config_validators: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = field(
        default_factory=dict
    )
    engine: ConversationEngine | None = None  # None when WAGATE_ENGINE_ENABLED is false
    chatwoot: ChatwootLinks | None = None  # sessions' Chatwoot inboxes (set up with the engine)
    control_plane: ControlPlane | None = None  # with WAGATE_CONTROL_PLANE_URL
    whatsmeow: EngineSupervisor | None = None  # the engine hosts of whatsmeow sessions

    def validate_transport_config(self, transport: str, config: dict[str, Any]) -> dict[str, Any]:
        self.registry.ensure_available(transport)
        validator = self.config_validators.get(transport)
        return validator(config) if validator else config


def default_policy(settings: Settings) -> DeliveryPolicy:
    """The global defaults every session's delivery policy starts from."""
    quiet = None
    if settings.quiet_hours:
        start, end = settings.quiet_hours.split("-")
        quiet = QuietHours(start=start, end=end)
    return DeliveryPolicy(
        message_ttl_s=settings.message_ttl_s,
        rate_per_minute=settings.rate_per_minute,
        burst_size=settings.burst_size,
        burst_window_s=settings.burst_window_s,
        burst_cooldown_s=settings.burst_cooldown_s,
        daily_cap=settings.daily_cap,
        duplicate_window_s=settings.duplicate_window_s,
        opt_out_keywords=tuple(settings.opt_out_keywords),
        quiet_hours=quiet,
        timezone=settings.timezone,
        pacing=settings.pacing,
    )


def default_worker_id(settings: Settings) -> str:
    """Stable across restarts, so a restarted worker takes its sessions back at once.

    Host name plus the data directory: two workers on one host need different
    data directories or an explicit ``WAGATE_WORKER_ID`` each.
    """
    where = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()}:{where}"


def media_store(settings: Settings) -> MediaStore:
    """The data dir for one worker; an S3-compatible bucket for a fleet."""
    if settings.media_store == "s3":
        assert settings.s3_bucket is not None  # checked by the settings
        secret = settings.s3_secret_access_key
        return S3MediaStore(
            S3Settings(
                bucket=settings.s3_bucket,
                endpoint=settings.s3_endpoint,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=secret.get_secret_value() if secret else None,
                prefix=settings.s3_prefix,
            )
        )
    return LocalMediaStore(settings.data_dir)


def build_registry(
    network: SimulatorNetwork,
    cloud_graph: GraphSettings | None = None,
    *,
    allow_private_urls: bool = False,
    whatsmeow: EngineSupervisor | None = None,
) -> TransportRegistry:
    registry = TransportRegistry()
    if whatsmeow is not None:
        registry.register("whatsmeow", whatsmeow.create_transport, WhatsmeowTransport.capabilities)
    registry.register(
        "evolution",
        lambda context: EvolutionTransport(
            context,
            allow_private_urls=allow_private_urls,
            http_transport=None if allow_private_urls else PublicTransport(),
        ),
        EvolutionTransport.capabilities,
        secret_fields=EVOLUTION_SECRET_FIELDS,
        endpoint_fields=frozenset({"base_url"}),
        config_model=EvolutionConfig,
    )
    registry.register(
        "simulator",
        network.create_transport,
        SimulatorTransport.capabilities,
        config_model=SimulatorConfig,
    )
    graph = cloud_graph or GraphSettings()
    registry.register(
        "cloud",
        lambda context: CloudTransport(context, graph),
        CloudTransport.capabilities,
        secret_fields=CLOUD_SECRET_FIELDS,
        config_model=CloudConfig,
    )
    return registry


def whatsmeow_settings(settings: Settings) -> SupervisorSettings:
    """How the whatsmeow engine hosts run (they start on a whatsmeow session's first start)."""
    return SupervisorSettings(
        sessions_per_host=settings.whatsmeow_sessions_per_host,
        restart_backoff_s=tuple(settings.whatsmeow_restart_backoff_s),
        stable_after_s=settings.whatsmeow_host_stable_s,
        qr_max_codes=settings.qr_max_codes,
        max_media_bytes=settings.media_max_bytes,
    )


@asynccontextmanager
async def build_services(
    settings: Settings, *, clock: Clock | None = None, announce: Callable[[str], None] | None = None
) -> AsyncIterator[Services]:
    """Create, migrate and wire everything; close it all on exit, in reverse order."""
    clock = clock or SystemClock()
    announce = announce or (lambda line: print(line, file=sys.stderr, flush=True))
    ensure_data_dir(settings.data_dir)
    admin_key, created = load_or_create_admin_key(
        settings.data_dir, settings.api_key.get_secret_value() if settings.api_key else None
    )
    if created:
        announce(
            f"wagate: generated the admin API key (saved in {settings.data_dir / 'admin-key'}, "
            f"shown only now): {admin_key}"
        )
    async with AsyncExitStack() as stack:
        db = Database.connect(
            settings.resolved_database_url,
            sqlite_synchronous=settings.sqlite_synchronous,
            pool_size=settings.db_pool_size,
            idle_in_transaction_s=settings.lease_ttl_s / 3,  # well before a lease lapses
        )
        stack.push_async_callback(db.dispose)
        await db.migrate()
        async with db.transaction() as tx:
            await tenants.ensure_tenant(tx, tenants.DEFAULT_TENANT, clock.now())

        metrics = Metrics()
        metrics.registry.register(
            WriteStatsCollector(
                lambda: (db.commits, db.batches.stats.batches, dict(db.batches.stats.ops_by_kind))
            )
        )
        policy_defaults = default_policy(settings)
        worker_id = settings.worker_id or default_worker_id(settings)
        bus = EventBus()
        media = media_store(settings)
        network = SimulatorNetwork(
            clock,
            seed=settings.simulator_seed,
            settings=SimulatorSettings(
                delivery_delay_s=settings.simulator_delivery_delay_s,
                read_delay_s=settings.simulator_read_delay_s,
                qr_max_codes=settings.qr_max_codes,
            ),
            ledger_dir=settings.data_dir / "simulator",
        )
        stack.callback(network.close)  # runs after the sessions are shut down
        whatsmeow = EngineSupervisor(clock, settings.data_dir, whatsmeow_settings(settings))
        stack.push_async_callback(whatsmeow.close)  # after the sessions, like the network
        registry = build_registry(
            network,
            GraphSettings(settings.cloud_graph_url, settings.media_fetch_timeout_s),
            allow_private_urls=settings.allow_private_urls,
            whatsmeow=whatsmeow,
        )
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.media_fetch_timeout_s, connect=10.0),
            headers={"user-agent": f"wagate/{__version__}"},
            # media downloads and voice audio: URLs tenants give, checked when connecting
            transport=outbound_transport(allow_private=settings.allow_private_urls),
        )
        stack.push_async_callback(http.aclose)

        secret_key, key_created = load_or_create_key(
            settings.data_dir,
            settings.webhook_secret_key.get_secret_value() if settings.webhook_secret_key else None,
        )
        if key_created and not db.is_sqlite:
            log.warning(
                "generated the webhook secret key in the data dir; workers that share this "
                "database must use the same key (set WAGATE_WEBHOOK_SECRET_KEY on all of them)",
                path=str(settings.data_dir / "secret-key"),
            )
        secret_box = SecretBox(secret_key)
        outbox_ref: list[Outbox] = []
        hooks = SessionHooks(
            events_committed=bus.notify,
            session_connected=lambda session_id: outbox_ref[0].wake(session_id),
            session_deleted=network.forget,
            inbound_committed=lambda *seen: outbox_ref[0].inbound_seen(*seen),
        )
        gate = (
            instance_locks(settings, db, clock, worker_id) if settings.control_plane_url else None
        )
        manager = SessionManager(
            db=db,
            registry=registry,
            clock=clock,
            media=media,
            settings=RuntimeSettings(
                data_dir=settings.data_dir,
                reconnect=RetryStrategy(
                    max_attempts=settings.reconnect_max_attempts,
                    schedule=tuple(settings.reconnect_backoff_s),
                    jitter=0.1,
                ),
                policy_defaults=policy_defaults,
                default_proxy_url=settings.default_proxy_url,
                bad_mac_window_s=settings.bad_mac_window_s,
                bad_mac_threshold=settings.bad_mac_threshold,
                bad_mac_cooldown_s=settings.bad_mac_cooldown_s,
                stable_after_s=settings.stable_connection_s,
                keepalive_interval_s=settings.keepalive_interval_s,
                keepalive_timeout_s=settings.keepalive_timeout_s,
                idle_reconnect_s=settings.idle_reconnect_s,
            ),
            hooks=hooks,
            metrics=metrics,
            capacity=settings.worker_capacity,
            restore_concurrency=settings.restore_concurrency,
            worker_id=worker_id,
            lease_ttl_s=settings.lease_ttl_s,
            secrets=ConfigSecrets(secret_box, registry),
            identity=WorkerIdentity(worker_id, settings.worker_capacity, metrics, clock),
            balance=Balance(
                cooldown_s=settings.displace_cooldown_s,
                moves_per_minute=settings.moves_per_minute,
            ),
            gate=gate,
        )
        outbox = Outbox(
            db=db,
            manager=manager,
            clock=clock,
            loader=MediaLoader(
                media,
                http,
                max_bytes=settings.media_max_bytes,
                allow_private_urls=settings.allow_private_urls,
            ),
            settings=SenderSettings(
                poll_s=settings.sender_poll_s,
                retry=RetryStrategy(
                    max_attempts=settings.send_max_attempts, base_delay_s=1.0, max_delay_s=300.0
                ),
                number_check_ttl_s=settings.number_check_ttl_s,
            ),
            metrics=metrics,
            events_committed=bus.notify,
            policy_defaults=policy_defaults,
        )
        outbox_ref.append(outbox)
        horizon = LogHorizon(db)
        media_links = MediaLinks(
            secret_box,
            key_id=settings.media_link_key_id,
            ttl_s=settings.media_link_ttl_s,
            public_url=settings.public_url,
            now=clock.now,
        )
        outgoing_media = OutgoingMedia(media_links, media)
        rabbitmq = rabbitmq_sink(settings, db, clock, bus, horizon, worker_id, metrics, media_links)
        if rabbitmq is not None:
            stack.push_async_callback(rabbitmq.shutdown)  # hands the sink over at once
        dispatcher = WebhookDispatcher(
            db=db,
            clock=clock,
            bus=bus,
            horizon=horizon,
            box=secret_box,
            client=WebhookClient(
                timeout_s=settings.webhook_timeout_s,
                allow_private=settings.allow_private_urls,
                now=clock.now,
            ),
            settings=DeliverySettings.from_schedule(
                settings.webhook_retry_schedule_s,
                max_in_flight=settings.webhook_max_in_flight,
                disable_after_s=settings.webhook_disable_after_s,
                poll_s=settings.events_poll_s,
                lease_ttl_s=settings.lease_ttl_s,
                retention_s=settings.webhook_delivery_retention_s,
            ),
            metrics=DeliveryMetrics(metrics.registry),
            worker_id=worker_id,
            media=outgoing_media,
            server_url=settings.public_url,
        )
        streams = EventStreams(
            db=db,
            bus=bus,
            horizon=horizon,
            clock=clock,
            poll_s=settings.events_poll_s,
            max_per_key=settings.streams_per_key,
            media=outgoing_media,
        )
        acceptor = OutboundAcceptor(
            db=db,
            clock=clock,
            media=media,
            registry=registry,
            settings=AcceptSettings(
                media_max_bytes=settings.media_max_bytes,
                allow_private_urls=settings.allow_private_urls,
                idempotency_ttl_s=settings.idempotency_ttl_s,
            ),
            policy_defaults=policy_defaults,
        )
        passwords = Passwords()
        services = Services(
            settings=settings,
            clock=clock,
            db=db,
            metrics=metrics,
            registry=registry,
            media=media,
            retention=RetentionSweeper(
                db,
                media,
                clock,
                RetentionSettings(
                    events_days=settings.retain_events_days,
                    deliveries_days=settings.retain_deliveries_days,
                    dead_letters_days=settings.retain_dead_letters_days,
                    engine_steps_days=settings.retain_engine_steps_days,
                    messages_days=settings.retain_messages_days,
                    interval_s=settings.retention_sweep_s,
                ),
            ),
            manager=manager,
            outbox=outbox,
            acceptor=acceptor,
            bus=bus,
            horizon=horizon,
            secret_box=secret_box,
            webhooks=dispatcher,
            media_links=media_links,
            rabbitmq=rabbitmq,
            subscriptions=Subscriptions(
                db=db,
                clock=clock,
                box=secret_box,
                dispatcher=dispatcher,
                allow_private_urls=settings.allow_private_urls,
            ),
            streams=streams,
            simulator=network,
            admin_key_digest=hashlib.sha256(admin_key.encode()).digest(),
            worker_id=worker_id,
            policy_defaults=policy_defaults,
            proxy_probe=ProxyProbe(clock, allow_private=settings.allow_private_urls),
            remote=RemoteCalls(
                db=db, manager=manager, clock=clock, timeout_s=settings.remote_call_timeout_s
            ),
            authenticator=Authenticator(
                db=db,
                clock=clock,
                passwords=passwords,
                signer=TokenSigner(
                    secret_box.derive("wagate access tokens"), clock, settings.access_token_ttl_s
                ),
                throttle=LoginThrottle(clock, free_attempts=settings.login_free_attempts),
                settings=AuthSettings(
                    access_token_ttl_s=settings.access_token_ttl_s,
                    refresh_token_ttl_s=settings.refresh_token_ttl_s,
                    browser_login_ttl_s=settings.login_ttl_s,
                ),
                on_logins_ended=streams.end_keys,
            ),
            accounts=Accounts(db, clock, passwords),
            csrf=CsrfGuard(secret_box.derive("wagate csrf tokens")),
            whatsmeow=whatsmeow,
            config_validators={
                "simulator": validate_simulator_config,
                "cloud": validate_cloud_config,
                "evolution": evolution_config_validator(
                    allow_private_urls=settings.allow_private_urls
                ),
            },
        )

        async def simulator_control(
            runtime: SessionRuntime, args: dict[str, Any]
        ) -> dict[str, Any]:
            """A control asked on another worker, carried out on this one's network."""
            return await run_control(network, runtime.session_id, args["action"], args.get("body"))

        services.remote.register("simulator", simulator_control)
        generated = await services.subscriptions.sync_from_env(env_webhook(settings))
        if generated is not None:
            announce(
                f"wagate: created the webhook of WAGATE_WEBHOOK_URL; its signing secret, "
                f"shown only now (set WAGATE_WEBHOOK_SECRET to choose it): {generated}"
            )
        stack.push_async_callback(manager.shutdown)
        stack.push_async_callback(outbox.shutdown, settings.shutdown_timeout_s)
        stack.push_async_callback(dispatcher.shutdown, settings.shutdown_timeout_s)
        if settings.engine_enabled:
            services.engine = ConversationEngine(
                db=db,
                clock=clock,
                bus=bus,
                horizon=horizon,
                acceptor=acceptor,
                box=secret_box,
                http=http,
                settings=EngineSettings(
                    poll_s=settings.engine_poll_s,
                    lease_ttl_s=settings.lease_ttl_s,
                    concurrency=settings.engine_concurrency,
                    allow_private_urls=settings.allow_private_urls,
                    media_max_bytes=settings.media_max_bytes,
                ),
                worker_id=worker_id,
                on_accepted=outbox.wake,
                media_link=media_links.link_for_path,
            )
            stack.push_async_callback(services.engine.shutdown, settings.shutdown_timeout_s)
        chatwoot_http = chatwoot_client(allow_private=settings.allow_private_urls)
        stack.push_async_callback(chatwoot_http.aclose)
        bridge = ChatwootBridge(
            db=db,
            clock=clock,
            bus=bus,
            horizon=horizon,
            box=secret_box,
            media=media,
            http=chatwoot_http,
            worker_id=worker_id,
            lease_ttl_s=settings.lease_ttl_s,
            poll_s=settings.events_poll_s,
        )
        services.chatwoot = ChatwootLinks(
            db=db,
            clock=clock,
            box=secret_box,
            bridge=bridge,
            acceptor=acceptor,
            wake_outbox=outbox.wake,
            engine=lambda: services.engine,
            allow_private_urls=settings.allow_private_urls,
        )
        stack.push_async_callback(bridge.shutdown)
        if gate is not None:
            services.control_plane = await build_control_plane(
                settings,
                locks=gate,
                db=db,
                clock=clock,
                bus=bus,
                horizon=horizon,
                manager=manager,
                acceptor=acceptor,
                wake_outbox=outbox.wake,
                media=media,
                worker_id=worker_id,
            )
            stack.push_async_callback(services.control_plane.close)
        yield services


class BackgroundTasks:
    """Named, monitored side tasks: one that dies unexpectedly is reported loudly."""

    def __init__(self, on_crash: Callable[[str, BaseException], None]) -> None:
        self.on_crash = on_crash
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, name: str, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.on_crash(task.get_name(), exc)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextmanager
def exit_signals(on_first: Callable[[], None]) -> Iterator[None]:
    """SIGTERM or SIGINT: first a graceful stop, and a second one exits at once.

    The first signal calls ``on_first`` (which ends live streams), then goes to
    uvicorn's own handler:
    uvicorn waits for open responses before it runs the lifespan's shutdown and
    does not tell streaming responses that it is stopping, so without this they
    would be cut at the graceful-shutdown timeout instead of ending cleanly.

    A second signal, while in-flight sends drain (up to
    ``WAGATE_SHUTDOWN_TIMEOUT_S``), exits the process at once: the operator
    asked twice. Nothing is lost that a crash would not lose: every accepted
    message and event is committed, and a send cut mid-way is resolved on the
    next start like after a crash (docs/delivery.md).

    Held over the whole lifespan, the services' own shutdown included (that is
    where sends drain); uvicorn's handlers are put back at the end.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    received: list[int] = []
    replaced: dict[signal.Signals, tuple[Any, Any]] = {}  # signal: (server's handler, ours)
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):  # no server handler to wrap: leave the default alone
            continue

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            received.append(signum)
            if len(received) > 1:
                print(
                    "wagate: second stop signal, exiting at once without waiting for "
                    "in-flight sends",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(128 + signum)
            loop.call_soon_threadsafe(on_first)
            previous(signum, frame)

        signal.signal(sig, handler)
        replaced[sig] = (previous, handler)
    try:
        yield
    finally:
        for sig, (previous, ours) in replaced.items():
            if signal.getsignal(sig) is ours:
                signal.signal(sig, previous)


def _crash_loudly(name: str, exc: BaseException) -> None:
    log.critical("background task crashed; stopping", task=name, error=repr(exc))
    os.kill(os.getpid(), 15)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    on_task_crash: Callable[[str, BaseException], None] = _crash_loudly,
    configure_logs: bool = True,
) -> FastAPI:
    """The ASGI application. Nothing is built until its lifespan starts."""
    if configure_logs:
        configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        started: list[Services] = []

        def end_streams() -> None:
            for services in started:
                services.streams.close()

        with exit_signals(end_streams):
            async with build_services(settings, clock=clock) as services:
                started.append(services)
                app.state.services = services
                tasks = BackgroundTasks(on_task_crash)
                # Restoring a thousand sessions takes a while: the API answers meanwhile
                # (sends queue durably), and leases are renewed while it runs.
                tasks.start("session-restore", services.manager.restore())
                tasks.start("outbox-supervisor", services.outbox.run())
                tasks.start("session-leases", services.manager.keep_leases())
                tasks.start("session-commands", services.remote.serve())
                tasks.start("receipt-waits", services.manager.keep_receipts(settings.sender_poll_s))
                tasks.start("webhook-dispatcher", services.webhooks.run())
                if services.rabbitmq is not None:
                    tasks.start("rabbitmq-sink", services.rabbitmq.run())
                if services.engine is not None:
                    tasks.start("conversation-engine", services.engine.run())
                if services.chatwoot is not None:
                    tasks.start("chatwoot-bridge", services.chatwoot.bridge.run())
                if services.control_plane is not None:
                    tasks.start("control-plane", services.control_plane.run())
                tasks.start("retention", services.retention.run())
                log.info(
                    "wagate ready",
                    version=__version__,
                    database=services.db.dialect,
                    worker_id=services.worker_id,
                )
                try:
                    yield {}
                finally:
                    log.info("wagate stopping: finishing in-flight sends, closing sessions")
                    services.streams.close()
                    await tasks.stop()
        log.info("wagate stopped")

    app = FastAPI(
        title="wagate",
        version=__version__,
        description=(
            "Self-hosted WhatsApp gateway. Authenticate with `Authorization: Bearer <key>`."
        ),
        lifespan=lifespan,
        # a path with an empty segment (/v1/webhooks/) is 404, not a redirect to another route
        redirect_slashes=False,
        docs_url=None,  # served by the dashboard with Swagger UI's files from the package
        redoc_url=None,
    )
    install_error_handlers(app, error_page=web.error_page)
    app.add_middleware(
        BodyGuard,
        limits=BodyLimits.for_media(
            media_max_bytes=settings.media_max_bytes,
            max_body_bytes=settings.max_body_bytes,
            ingest_max_bytes=settings.ingest_max_bytes,
        ),
    )
    for router in (
        health.router,
        auth.router,
        users.router,
        workers.router,
        sessions.router,
        settings_routes.router,
        health_session.router,
        messages.router,
        media_routes.router,
        bulk.router,
        chats.router,
        contacts.router,
        groups.router,
        profiles.router,
        simulator.router,
        ingest_cloud.router,
        ingest_evolution.router,
        webhooks.router,
        events.router,
        admin.router,
        assistant_routes.router,
        conversation_routes.router,
        evolution_surface.router,
        chatwoot_routes.router,
    ):
        app.include_router(router)
    document_send_body(app)
    web.install(app)
    return app
