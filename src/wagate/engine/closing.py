"""A worker's decision about a batch, committed as one write: the batch, its steps, its replies.

Every change a worker makes to a batch it holds (keeping the brain's answer,
closing it as done, skipped or failed) is a :class:`BatchChange` on the
database's write batches (:mod:`wagate.store.batch`), so five hundred chats
answered at once close in a few transactions, not five hundred. A change is
*fenced*: it applies only while the worker still holds the batch's lease; if
another worker took the batch over, nothing of the change is written and its
caller gets :class:`LeaseLost`.

A close with replies admits them in the same transaction
(:class:`~wagate.outbox.admission.AdmissionKind`, the same rules as the API's
sends): the replies are queued, the batch is done and its ``replied`` step
written together, or none of it. The closing step is decided from the
admissions' outcomes, so it says what happened: ``replied`` (with the message
ids), ``reply_refused`` (a guardrail refused every part) or ``silent``. The
chat must still be the bot's when the close commits: if a human took it over
while the brain was thinking, the batch is skipped (``paused``) and no reply is
queued; the check and the replies are one transaction, so no pause slips in
between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wagate.domain import IdempotencyKeyReused, WagateError
from wagate.engine.state import ChatState
from wagate.outbox.admission import Admission, AdmissionKind, Admitted
from wagate.store import Connection
from wagate.store.batch import BatchKind
from wagate.store.repositories import engine_work

Step = tuple[str, dict[str, Any], datetime | None]
"""A timeline step: its kind, its data, and when (None: when the change commits)."""


class LeaseLost(Exception):
    """Another worker holds the batch now; it finishes the job."""


class ChatPaused(Exception):
    """The reply was not queued: a human took the chat over before the close committed."""


@dataclass(slots=True)
class Replies:
    """The replies a close queues: each planned part with its admission, and the parts
    already refused while they were prepared (media that could not be fetched...)."""

    parts: list[tuple[str, Admission]]
    refused: list[dict[str, Any]] = field(default_factory=list)
    fallback: bool = False


@dataclass(slots=True)
class BatchChange:
    batch_id: str
    owner: str
    tenant_id: str
    session_id: str
    chat_id: str
    values: dict[str, Any]  # columns of ``engine_batches`` to set
    steps: list[Step]
    replies: Replies | None = None  # a close that answers: the closing step is decided here


@dataclass(frozen=True, slots=True)
class Changed:
    """What a committed change did: the closing step it wrote (if it decided one) and each
    reply's outcome (an :class:`Admitted`, or the exception that refused it), in order."""

    step: Step | None
    outcomes: list[Admitted | Exception]


class BatchChangeKind(BatchKind[BatchChange]):
    name = "engine"

    def __init__(self, admissions: AdmissionKind, now: Callable[[], datetime]) -> None:
        self.admissions = admissions
        self.now = now

    def apply(self, conn: Connection, ops: list[BatchChange]) -> list[Any]:
        now = self.now()
        answering = {(op.session_id, op.chat_id) for op in ops if op.replies is not None}
        bot = engine_work.chats_in_state(conn, answering, ChatState.BOT)
        paused = [op.replies is not None and (op.session_id, op.chat_id) not in bot for op in ops]
        held = engine_work.change_held_batches(
            conn,
            [
                (
                    op.batch_id,
                    op.owner,
                    {**op.values, **({"status": "skipped"} if skip else {}), "updated_at": now},
                )
                for op, skip in zip(ops, paused, strict=True)
            ],
        )
        replying = [op for op, ok, skip in zip(ops, held, paused, strict=True) if ok and not skip]
        admissions = [admission for op in replying for _, admission in _parts(op)]
        admitted = iter(self.admissions.apply(conn, admissions) if admissions else [])
        outcomes: list[Any] = []
        steps: list[dict[str, Any]] = []
        for op, ok, skip in zip(ops, held, paused, strict=True):
            if not ok:
                outcomes.append(LeaseLost())
                continue
            results: list[Admitted | Exception]
            closing: Step | None = None
            if skip:
                results = [ChatPaused() for _ in _parts(op)]
                closing = ("skipped", {"batch_id": op.batch_id, "reason": "paused"}, None)
            else:
                results = [next(admitted) for _ in _parts(op)]
                closing = _closing_step(op, results) if op.replies is not None else None
            for kind, data, at in [*op.steps, *([closing] if closing else [])]:
                steps.append(
                    {
                        "tenant_id": op.tenant_id,
                        "session_id": op.session_id,
                        "chat_id": op.chat_id,
                        "kind": kind,
                        "data": data,
                        "created_at": at or now,
                    }
                )
            outcomes.append(Changed(closing, results))
        engine_work.insert_steps(conn, steps)
        return outcomes


def _parts(op: BatchChange) -> list[tuple[str, Admission]]:
    return op.replies.parts if op.replies is not None else []


def _closing_step(op: BatchChange, results: list[Admitted | Exception]) -> Step:
    assert op.replies is not None
    accepted: list[str] = []
    replayed: list[str] = []
    refused = list(op.replies.refused)
    for (part, _), outcome in zip(op.replies.parts, results, strict=True):
        if isinstance(outcome, Admitted):
            record = outcome.message
            accepted.append(str(record["id"] if isinstance(record, dict) else record.id))
        elif isinstance(outcome, IdempotencyKeyReused):  # accepted before a crash, planned anew
            replayed.append(part)
        elif isinstance(outcome, WagateError):
            refused.append({"part": part, "code": outcome.code, "message": outcome.message})
        else:
            refused.append({"part": part, "code": "internal_error", "message": repr(outcome)})
    data: dict[str, Any] = {"batch_id": op.batch_id, "message_ids": accepted}
    if refused:
        data["refused"] = refused
    if replayed:
        data["accepted_before"] = replayed
    if op.replies.fallback:
        data["fallback"] = True
    kind = "replied" if accepted or replayed else ("reply_refused" if refused else "silent")
    return kind, data, None
