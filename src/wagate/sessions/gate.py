"""A say from outside wagate over where a session may run: a control plane's instance lock.

The session manager asks the gate before it starts a session it has claimed, lets it
keep its locks alive with every lease pass, and tells it when a session stops here.
Without a gate, wagate's own leases decide alone.
"""

from __future__ import annotations

from typing import Protocol


class SessionGate(Protocol):
    async def admit(self, session_id: str) -> bool:
        """Whether the session may start on this worker now (False: another holds it)."""

    async def keep(self, session_ids: list[str]) -> set[str]:
        """Renew what this worker holds for these running sessions; the ones it lost."""

    async def release(self, session_id: str) -> None:
        """The session stopped here: let another worker have it."""
