"""wagate as a worker of wa-worker's control plane (``WAGATE_CONTROL_PLANE_URL``).

Three loops on every worker, and the instance locks as the session manager's gate
(:mod:`.locks`):

- discovery (:mod:`.scheduler`): every ``control_plane_discovery_s``, the eligible
  instances become sessions and the top ones are asked to run;
- the queue (:mod:`.queue`): every ``control_plane_queue_poll_s``, each instance
  connected here has its queued messages accepted into wagate's queue;
- the reporter (:mod:`.reporter`), following the event log under a lease: statuses,
  sends, failures and inbound messages back to the control plane.
"""

from __future__ import annotations

import asyncio

import structlog

from wagate.controlplane.client import ControlPlaneClient
from wagate.controlplane.locks import InstanceLocks
from wagate.controlplane.queue import QueueReader
from wagate.controlplane.reporter import TYPES, Reporter
from wagate.controlplane.scheduler import InstanceScheduler
from wagate.domain import Clock, wait_for
from wagate.events.follower import FollowerSpec, LogFollower

log = structlog.get_logger("wagate.controlplane")

NAME = "control-plane"  # the follower's cursor, and the tenant of its instances
STOP_WAIT_S = 10.0


class ControlPlane:
    def __init__(
        self,
        *,
        client: ControlPlaneClient,
        locks: InstanceLocks,
        scheduler: InstanceScheduler,
        queue: QueueReader,
        reporter: Reporter,
        follower: LogFollower,
        clock: Clock,
        discovery_s: float,
    ) -> None:
        self.client = client
        self.locks = locks
        self.scheduler = scheduler
        self.queue = queue
        self.reporter = reporter
        self.follower = follower
        self.clock = clock
        self.discovery_s = discovery_s
        self._stop = asyncio.Event()

    @staticmethod
    def follower_spec(tenant_id: str) -> FollowerSpec:
        return FollowerSpec(name=NAME, source="control_plane", types=TYPES, tenant_id=tenant_id)

    async def run(self) -> None:
        """The three loops until cancelled; then each is stopped between two steps (not in
        the middle of a transaction), and cancelled only if it does not stop in time."""
        loop = asyncio.get_running_loop()
        loops = [
            loop.create_task(self._discover(), name="control-plane-discovery"),
            loop.create_task(self.queue.run(self._stop), name="control-plane-queue"),
            loop.create_task(self.follower.run(), name="control-plane-reporter"),
        ]
        try:
            await asyncio.gather(*loops)
        finally:
            self._stop.set()
            self.follower.stop()
            _, late = await asyncio.wait(loops, timeout=STOP_WAIT_S)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)

    async def _discover(self) -> None:
        while not self._stop.is_set():
            try:
                running = await self.scheduler.sync()
                log.debug("control plane instances", target=running)
            except Exception as exc:
                log.warning("control plane discovery failed", error=repr(exc))
            await wait_for(self._stop, self.clock, real_timeout=self.discovery_s)

    async def close(self) -> None:
        await self.client.close()
