"""How many sessions each live worker should run: the fleet's plan, worked out alike on
every worker from the same two reads (the live workers' capacities, and the sessions
that should run with who holds them).

The fleet runs its best-ranked sessions within the live workers' total capacity
(the *target*). A worker's *share* of the target is in proportion to its capacity,
rounded up, so the shares always cover the target and never exceed a worker's
capacity. A worker below its share takes sessions nobody holds; one above it gives
sessions up only while another live worker is below its own (someone will take them),
a bounded number a minute. A new worker therefore takes its share within a few
minutes, and nothing moves back and forth: a worker never takes beyond its share, and
never gives up below it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from wagate.store.repositories.sessions import Ranked


@dataclass(frozen=True, slots=True)
class FleetPlan:
    capacities: Mapping[str, int]  # live workers (the asking one included): capacity
    ranked: Sequence[Ranked]  # the sessions that should run, best first

    @property
    def capacity(self) -> int:
        """How many sessions the live workers may run together."""
        return sum(self.capacities.values())

    @property
    def target(self) -> int:
        """How many sessions the fleet should run now."""
        return min(len(self.ranked), self.capacity)

    def share(self, worker: str) -> int:
        """How many sessions ``worker`` should run: its part of the target by capacity."""
        capacity = self.capacities.get(worker, 0)
        if capacity <= 0 or self.capacity <= 0:
            return 0
        return min(capacity, math.ceil(self.target * capacity / self.capacity))

    def held(self) -> Counter[str]:
        """Sessions held now, by live lease owner."""
        return Counter(r.owner for r in self.ranked if r.owner is not None)

    def excess(self, worker: str) -> int:
        """How many of its sessions ``worker`` should hand over now: what it holds beyond its
        share, as far as the other live workers have room for them below their own shares
        once they took the sessions that nobody holds."""
        held = self.held()
        over = held[worker] - self.share(worker)
        if over <= 0:
            return 0
        room = sum(
            max(0, self.share(other) - held[other]) for other in self.capacities if other != worker
        )
        unheld = sum(1 for r in self.ranked[: self.target] if r.owner is None)
        return max(0, min(over, room - unheld))
