"""How the session layer tells the layers above it that something happened.

The session layer may not import them (layers import downward only), so the
composition root passes these callbacks in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


def _nothing(*_: object) -> None:
    return None


@dataclass(slots=True)
class SessionHooks:
    events_committed: Callable[[], None] = field(default=_nothing)
    """Events were appended to the log and committed (wake webhook delivery, live streams)."""

    session_connected: Callable[[str], None] = field(default=_nothing)
    """A session is connected in this process (wake its outbound sender)."""

    session_deleted: Callable[[str], None] = field(default=_nothing)
    """A session and its data are gone (let transports forget their own state of it)."""

    inbound_committed: Callable[[str, str, datetime], None] = field(default=_nothing)
    """A contact's message (session, chat, its time) was stored (the sender's guardrails
    learn that the chat is no longer proactive without asking the database)."""
