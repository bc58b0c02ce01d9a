"""Which of the control plane's instances run: its eligible instances become sessions of
the control plane's tenant (named by instance id, with its priority), and the top
``max_active_instances`` by priority (ties by id, so the order is stable) are asked to
run. wagate's fleet places them on its workers; the instance locks decide the last word.

An instance that falls out of the top, or out of the eligible list, is stopped once it
has been out for ``stop_cooldown_s`` (60 s by default), so a priority that flickers
does not restart a connected session over and over. Nothing is ever deleted: an
instance that comes back finds its session, and its login, as it left them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from wagate.controlplane.client import ControlPlaneClient, Instance
from wagate.domain import Clock, Conflict, DesiredState
from wagate.sessions import SessionManager
from wagate.store import Database
from wagate.store.models import Session
from wagate.store.repositories import sessions, tenants

log = structlog.get_logger("wagate.controlplane")


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    tenant_name: str
    transport: str
    config: dict[str, object]
    fallback_max_active: int  # when the control plane's settings say nothing
    stop_cooldown_s: float


class InstanceScheduler:
    def __init__(
        self,
        *,
        client: ControlPlaneClient,
        db: Database,
        clock: Clock,
        manager: SessionManager,
        settings: SchedulerSettings,
    ) -> None:
        self.client = client
        self.db = db
        self.clock = clock
        self.manager = manager
        self.settings = settings
        self._out_since: dict[str, datetime] = {}  # instance id: out of the target since

    async def tenant_id(self) -> str:
        async with self.db.transaction() as tx:
            tenant = await tenants.ensure_tenant(tx, self.settings.tenant_name, self.clock.now())
            return tenant.id

    async def sync(self) -> list[str]:
        """One discovery pass; the instances asked to run."""
        limit = await self.client.max_active_instances() or self.settings.fallback_max_active
        eligible = await self.client.eligible_instances()
        ranked = sorted(eligible, key=lambda i: (-i.priority, i.id))
        target = {i.id for i in ranked[:limit]}
        tenant_id = await self.tenant_id()
        async with self.db.read() as tx:
            known = {row.name: row for row in await sessions.list_sessions(tx, tenant_id)}
        for instance in ranked:
            row = known.get(instance.id) or await self._create(tenant_id, instance)
            if row is None:
                continue
            known[instance.id] = row
            if row.priority != instance.priority:
                await self.manager.update(row.id, priority=instance.priority)
        now = self.clock.now()
        for name, row in known.items():
            if name in target:
                self._out_since.pop(name, None)
                if row.desired_state != DesiredState.RUNNING.value:
                    await self.manager.start(row.id)
                continue
            if row.desired_state != DesiredState.RUNNING.value:
                continue
            since = self._out_since.setdefault(name, now)
            if (now - since).total_seconds() >= self.settings.stop_cooldown_s:
                log.info("instance out of the target; stopping it", instance=name)
                await self.manager.stop(row.id)
                self._out_since.pop(name, None)
        return sorted(target)

    async def _create(self, tenant_id: str, instance: Instance) -> Session | None:
        try:
            return await self.manager.create(
                tenant_id=tenant_id,
                name=instance.id,
                transport=self.settings.transport,
                config=dict(self.settings.config),
                proxy_url=None,
                priority=instance.priority,
                start=False,
            )
        except Conflict:  # another worker made it first
            async with self.db.read() as tx:
                return await sessions.get_session(tx, instance.id, tenant_id)
