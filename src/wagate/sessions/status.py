"""A session's observed status changes, committed with the database's other writes.

A reconnect storm or a restore on boot changes the status of a thousand
sessions at once, each with its ``session.status`` event. Each change is a
:class:`StatusChange` op on the batch writer (:mod:`wagate.store.batch`):
one ``SELECT`` reads the batch's sessions (locked on PostgreSQL), the changes
are applied in order in memory (a session's later change sees its earlier
one as ``previous``), then written with an ``executemany`` per shape and the
events with another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wagate.domain import Clock, NotFound, SessionStatus
from wagate.sessions.hooks import SessionHooks
from wagate.sessions.inbound import ArrivalKind, ReceiptKind
from wagate.sessions.lease import StaleLease
from wagate.store import Connection
from wagate.store.batch import BatchKind
from wagate.store.repositories import sessions
from wagate.store.repositories.events import EventRow, append_events
from wagate.store.session_rows import SessionRowCache


@dataclass(slots=True)
class StatusChange:
    session_id: str
    status: SessionStatus
    reason: str | None
    at: datetime
    detail: dict[str, Any] | None = None  # why the same status was entered again
    fields: dict[str, Any] = field(default_factory=dict)  # other columns that change with it
    extra_event: tuple[str, dict[str, Any]] | None = None
    lease_token: int | None = None  # the writer's fencing token; None: not fenced


class StatusChangeKind(BatchKind[StatusChange]):
    """Each op's outcome: the session's tenant id, NotFound (the session is gone) or
    StaleLease (another worker claimed the session since the op's runtime did; read
    with the row locked on PostgreSQL, so no claim commits in between)."""

    name = "session_status"

    def __init__(self, on_committed: Callable[[set[str]], None]) -> None:
        self.on_committed = on_committed  # the changed sessions' ids

    def apply(self, conn: Connection, ops: list[StatusChange]) -> list[Any]:
        current = sessions.status_rows(conn, {op.session_id for op in ops})
        changes: dict[str, dict[str, Any]] = {}
        events: list[EventRow] = []
        outcomes: list[Any] = []
        for op in ops:
            row = current.get(op.session_id)
            if row is None:
                outcomes.append(NotFound(f"session {op.session_id!r} not found"))
                continue
            if op.lease_token is not None and row["lease_token"] != op.lease_token:
                outcomes.append(StaleLease(f"session {op.session_id!r} runs elsewhere now"))
                continue
            previous = row["status"]
            values = {
                **op.fields,
                "status": op.status.value,
                "status_reason": op.reason,
                "updated_at": op.at,
            }
            row.update(status=op.status.value, phone=values.get("phone", row["phone"]))
            changes.setdefault(op.session_id, {}).update(values)
            if previous != op.status.value or op.detail:
                data = {
                    "status": op.status.value,
                    "previous": previous,
                    "reason": op.reason,
                    "phone": row["phone"],
                    **(op.detail or {}),
                }
                events.append((row["tenant_id"], op.session_id, "session.status", data))
            if op.extra_event is not None:
                kind, data = op.extra_event
                events.append((row["tenant_id"], op.session_id, kind, data))
            outcomes.append(row["tenant_id"])
        sessions.update_many(conn, list(changes.items()))
        if events:
            append_events(conn, events, ops[-1].at)
        return outcomes

    def committed(self, ops: list[StatusChange], outcomes: list[Any]) -> None:
        changed = {
            op.session_id for op, out in zip(ops, outcomes, strict=True) if isinstance(out, str)
        }
        if changed:
            self.on_committed(changed)


@dataclass(frozen=True, slots=True)
class SessionWrites:
    """The batch kinds of the session layer, one of each per manager.

    The batch writer hands consecutive ops of *one* kind instance to it
    together, so every session's messages, receipts and status changes must
    share these instances to be applied set-based across sessions.
    """

    arrivals: ArrivalKind
    receipts: ReceiptKind
    statuses: StatusChangeKind

    @classmethod
    def build(cls, clock: Clock, hooks: SessionHooks, rows: SessionRowCache) -> SessionWrites:
        def statuses_committed(session_ids: set[str]) -> None:
            rows.invalidate(session_ids)
            hooks.events_committed()

        return cls(
            arrivals=ArrivalKind(clock.now, hooks.events_committed, hooks.inbound_committed),
            receipts=ReceiptKind(clock.now, hooks.events_committed),
            statuses=StatusChangeKind(statuses_committed),
        )
