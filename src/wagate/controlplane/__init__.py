"""wagate as a worker of wa-worker's control plane (seed 002's HTTP contract): see
:mod:`wagate.controlplane.service` and docs/control-plane.md."""

from __future__ import annotations

from collections.abc import Callable

from wagate.config import Settings
from wagate.controlplane.client import ControlPlaneClient
from wagate.controlplane.locks import InstanceLocks
from wagate.controlplane.queue import QueueReader
from wagate.controlplane.reporter import Reporter
from wagate.controlplane.scheduler import InstanceScheduler, SchedulerSettings
from wagate.controlplane.service import NAME, ControlPlane
from wagate.domain import Clock
from wagate.events import EventBus, LogHorizon
from wagate.events.follower import LogFollower
from wagate.outbox import OutboundAcceptor
from wagate.sessions import SessionManager
from wagate.store import Database
from wagate.store.media import MediaStore

__all__ = ["ControlPlane", "InstanceLocks", "build_control_plane", "instance_locks"]


def instance_locks(settings: Settings, db: Database, clock: Clock, worker_id: str) -> InstanceLocks:
    """The session manager's gate (made before the manager, so it has it from the start)."""
    url, secret = settings.control_plane_url, settings.control_plane_secret
    if url is None or secret is None:
        raise ValueError("the control plane needs WAGATE_CONTROL_PLANE_URL and its secret")
    client = ControlPlaneClient(url, secret.get_secret_value())
    return InstanceLocks(
        client=client,
        db=db,
        clock=clock,
        worker_id=worker_id,
        ttl_s=settings.control_plane_lock_ttl_s,
        tenant_name=NAME,
    )


async def build_control_plane(
    settings: Settings,
    *,
    locks: InstanceLocks,
    db: Database,
    clock: Clock,
    bus: EventBus,
    horizon: LogHorizon,
    manager: SessionManager,
    acceptor: OutboundAcceptor,
    wake_outbox: Callable[[str], None],
    media: MediaStore,
    worker_id: str,
) -> ControlPlane:
    client = locks.client
    scheduler = InstanceScheduler(
        client=client,
        db=db,
        clock=clock,
        manager=manager,
        settings=SchedulerSettings(
            tenant_name=NAME,
            transport=settings.control_plane_transport,
            config={},
            fallback_max_active=settings.worker_capacity,
            stop_cooldown_s=settings.control_plane_stop_cooldown_s,
        ),
    )
    reporter = Reporter(client=client, db=db, media=media, locks=locks)
    follower = LogFollower(
        ControlPlane.follower_spec(await scheduler.tenant_id()),
        reporter.handle,
        db=db,
        clock=clock,
        bus=bus,
        horizon=horizon,
        worker_id=worker_id,
        lease_ttl_s=settings.lease_ttl_s,
        poll_s=settings.events_poll_s,
    )
    await follower.begin()  # before discovery starts sessions: their first events count
    queue = QueueReader(
        client=client,
        db=db,
        clock=clock,
        manager=manager,
        locks=locks,
        acceptor=acceptor,
        wake_outbox=wake_outbox,
        poll_s=settings.control_plane_queue_poll_s,
    )
    return ControlPlane(
        client=client,
        locks=locks,
        scheduler=scheduler,
        queue=queue,
        reporter=reporter,
        follower=follower,
        clock=clock,
        discovery_s=settings.control_plane_discovery_s,
    )
