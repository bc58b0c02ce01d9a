"""Writing what the engine did: timeline steps, and events for the log (same transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wagate.store import AsyncSession
from wagate.store.models_engine import Conversation
from wagate.store.repositories import engine_work, events


async def step(
    tx: AsyncSession, conv: Conversation, kind: str, data: dict[str, Any], now: datetime
) -> None:
    await engine_work.add_step(
        tx,
        tenant_id=conv.tenant_id,
        session_id=conv.session_id,
        chat_id=conv.chat_id,
        kind=kind,
        data=data,
        now=now,
    )


async def event(
    tx: AsyncSession, conv: Conversation, type: str, data: dict[str, Any], now: datetime
) -> None:
    await events.append_event(
        tx,
        tenant_id=conv.tenant_id,
        session_id=conv.session_id,
        type=type,
        data={"chat_id": conv.chat_id, **data},
        now=now,
    )
