"""The workers sharing the database (admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from wagate.api.deps import AdminDep, ClockDep, DatabaseDep, SettingsDep
from wagate.store.repositories import workers
from wagate.store.repositories.workers import WorkerView
from wagate.store.serialize import iso

router = APIRouter(prefix="/v1/workers", tags=["admin"])


class WorkerOut(BaseModel):
    id: str
    host: str
    pid: int
    version: str
    started_at: str
    heartbeat_at: str
    stopped_at: str | None
    alive: bool = Field(description="heard from within the lease TTL and not stopped")
    capacity: int = Field(description="sessions it may run (WAGATE_WORKER_CAPACITY)")
    sessions: int = Field(description="sessions whose lease it holds now")
    messages_per_s: float = Field(description="sends between its last two heartbeats")


class WorkerList(BaseModel):
    items: list[WorkerOut]


def worker_json(view: WorkerView) -> dict[str, Any]:
    row = view.worker
    return {
        "id": row.id,
        "host": row.host,
        "pid": row.pid,
        "version": row.version,
        "started_at": iso(row.started_at),
        "heartbeat_at": iso(row.heartbeat_at),
        "stopped_at": iso(row.stopped_at),
        "alive": view.alive,
        "capacity": row.capacity,
        "sessions": view.sessions,
        "messages_per_s": row.messages_per_s,
    }


@router.get("", response_model=WorkerList)
async def list_workers(db: DatabaseDep, clock: ClockDep, settings: SettingsDep, _: AdminDep) -> Any:
    """Every worker heard from in the last day, live ones first. Any worker answers
    the same: they all read the same table."""
    async with db.read() as tx:
        views = await workers.list_workers(tx, clock.now(), settings.lease_ttl_s)
    return {"items": [worker_json(v) for v in views]}
