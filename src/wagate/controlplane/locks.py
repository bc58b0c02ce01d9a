"""The control plane's instance locks as the session manager's gate.

A session of the control plane's tenant (its name is the instance's id) starts on this
worker only after ``/instance-lock/acquire`` granted it here; the lock is renewed with
every lease pass and released when the session stops here. A lock the control plane
gives to another worker (``lock_conflict`` on renew), or one not renewed within its TTL
because the control plane did not answer, closes the session here: two workers never
run an instance at once, even beside wa-worker's own Baileys workers.

Sessions of other tenants pass without a call.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

import structlog

from wagate.controlplane.client import ControlPlaneClient, LockConflict
from wagate.domain import Clock, NotFound, WagateError
from wagate.store import Database
from wagate.store.repositories import sessions, tenants

log = structlog.get_logger("wagate.controlplane")


class InstanceLocks:
    def __init__(
        self,
        *,
        client: ControlPlaneClient,
        db: Database,
        clock: Clock,
        worker_id: str,
        ttl_s: float,
        tenant_name: str,
    ) -> None:
        self.client = client
        self.db = db
        self.clock = clock
        self.worker_id = worker_id
        self.ttl_s = ttl_s
        self.tenant_name = tenant_name
        self._instances: dict[str, str | None] = {}  # session id: instance id (None: not ours)
        self.held: dict[str, datetime] = {}  # session id: when its lock was last renewed

    async def instance_of(self, session_id: str) -> str | None:
        if session_id not in self._instances:
            try:
                async with self.db.read() as tx:
                    row = await sessions.get_session(tx, session_id, None)
                    tenant = await tenants.get_tenant_by_name(tx, self.tenant_name)
            except NotFound:
                return None
            ours = tenant is not None and row.tenant_id == tenant.id
            self._instances[session_id] = row.name if ours else None
        return self._instances[session_id]

    async def admit(self, session_id: str) -> bool:
        instance = await self.instance_of(session_id)
        if instance is None:
            return True
        try:
            await self.client.acquire(instance, self.worker_id, self.ttl_s)
        except LockConflict:
            log.info("instance locked by another worker", instance=instance)
            return False
        except WagateError as exc:  # no answer: never run without the lock
            log.warning("instance lock not acquired", instance=instance, error=exc.message)
            return False
        self.held[session_id] = self.clock.now()
        return True

    async def keep(self, session_ids: list[str]) -> set[str]:
        lost: set[str] = set()
        now = self.clock.now()
        for session_id in session_ids:
            renewed = self.held.get(session_id)
            instance = await self.instance_of(session_id)
            if renewed is None or instance is None:
                continue
            try:
                await self.client.renew(instance, self.worker_id, self.ttl_s)
            except LockConflict:
                lost.add(session_id)
            except WagateError as exc:
                if (now - renewed).total_seconds() >= self.ttl_s:  # it has lapsed there
                    lost.add(session_id)
                log.warning("instance lock not renewed", instance=instance, error=exc.message)
            else:
                self.held[session_id] = now
        for session_id in lost:
            self.held.pop(session_id, None)
        return lost

    async def release(self, session_id: str) -> None:
        if self.held.pop(session_id, None) is None:
            return
        instance = await self.instance_of(session_id)
        if instance is not None:
            with contextlib.suppress(WagateError):  # it lapses at its TTL anyway
                await self.client.release(instance, self.worker_id)
