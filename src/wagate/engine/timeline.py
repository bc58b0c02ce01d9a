"""A chat's timeline: its messages and the engine's steps, interleaved in time order."""

from __future__ import annotations

from typing import Any

from wagate.store import AsyncSession
from wagate.store.repositories import engine_work, messages
from wagate.store.serialize import iso, message_json

CLOSING = {"replied", "reply_refused", "silent", "skipped"}
"""Steps that close a batch: at the same instant they follow the replies they accepted."""


async def timeline(
    tx: AsyncSession, session_id: str, chat_id: str, limit: int = 200
) -> list[dict[str, Any]]:
    """The last ``limit`` messages and steps of the chat, oldest first.

    Items of the same instant (common on a test clock, and a brain that
    answers within the millisecond) are ordered as they happen: the inbound
    message, the engine's steps, the replies, then the step that closes the
    batch.
    """
    rows = await messages.latest_in_chat(tx, session_id, chat_id, limit)
    steps = await engine_work.list_steps(tx, session_id, chat_id, limit)
    items: list[tuple[Any, int, int, dict[str, Any]]] = []
    for row in rows:
        items.append(
            (
                row.created_at,
                0 if row.direction == "in" else 2,
                row.seq,
                {"kind": "message", "at": iso(row.created_at), "message": message_json(row)},
            )
        )
    for step in steps:
        items.append(
            (
                step.created_at,
                3 if step.kind in CLOSING else 1,
                step.seq,
                {"kind": "step", "at": iso(step.created_at), "step": step.kind, "data": step.data},
            )
        )
    items.sort(key=lambda item: (item[0], item[1], item[2]))
    return [item[3] for item in items[-limit:]]
