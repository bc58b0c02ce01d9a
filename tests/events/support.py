"""A real webhook receiver on loopback, and helpers to make events and move time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from standardwebhooks import Webhook as StandardWebhook

from tests.support.server import RunningServer, make_settings
from wagate.config import Settings
from wagate.store.repositories import events, tenants

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str
    status: int | None = None  # what the receiver answered

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """Records every request; answers with ``answer`` (204 unless told otherwise).

    ``gate``: while cleared, requests wait before being answered (a slow receiver).
    """

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answer: Callable[[Received], Answer] = lambda _: (204, {}, b"")
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0
    max_in_flight: int = 0
    runner: web.AppRunner | None = None

    def __post_init__(self) -> None:
        self.gate.set()

    async def _handle(self, request: web.Request) -> web.Response:
        got = Received(dict(request.headers), await request.read(), request.path)
        self.received.append(got)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            status, headers, body = self.answer(got)
            got.status = status
        finally:
            self.in_flight -= 1
        return web.Response(status=status, headers=headers, body=body)

    async def start(self, port: int = 0) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{bound}/hook"
        return self

    async def stop(self) -> None:
        self.gate.set()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def ids(self) -> list[str]:
        return [r.id for r in self.received]

    def accepted(self) -> list[Received]:
        """The requests answered with a 2xx."""
        return [r for r in self.received if r.status is not None and 200 <= r.status < 300]

    def bodies(self) -> list[dict[str, Any]]:
        return [r.json for r in self.received]


def verify(secret: str, got: Received) -> dict[str, Any]:
    """The Standard Webhooks verifier, as any receiver would run it."""
    return dict(StandardWebhook(secret).verify(got.body, got.headers))


async def create_webhook(client: httpx.AsyncClient, url: str, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/webhooks", json={"url": url, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def emit(
    server: RunningServer,
    count: int,
    *,
    type: str = "message.received",
    session_id: str | None = None,
    tenant_id: str | None = None,
) -> list[str]:
    """Append ``count`` events to the log in one transaction, as a change would; their ids."""
    services = server.services
    async with services.db.transaction() as tx:
        if tenant_id is None:
            tenant = await tenants.ensure_tenant(tx, tenants.DEFAULT_TENANT, services.clock.now())
            tenant_id = tenant.id
        rows = [
            await events.append_event(
                tx,
                tenant_id=tenant_id,
                session_id=session_id,
                type=type,
                data={"n": n},
                now=services.clock.now(),
            )
            for n in range(count)
        ]
    services.bus.notify()
    return [row.id for row in rows]


async def deliveries(
    client: httpx.AsyncClient, webhook_id: str, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/webhooks/{webhook_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def advance_until(
    server: RunningServer,
    check: Callable[[], Awaitable[Any]],
    *,
    step: float = 1.0,
    limit: float = 600.0,
    what: str = "condition",
) -> Any:
    """Move the clock in steps, letting I/O settle after each, until ``check`` is truthy."""
    moved = 0.0
    while True:
        for _ in range(5):
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.02)
        assert moved <= limit, f"{what} not met after {moved} s of clock time"
        await server.advance(step)
        moved += step


async def settle(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Wait (real time, clock still) until ``check`` is truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


EVENT_SETTINGS: dict[str, Any] = {
    "webhook_retry_schedule_s": [0, 5, 10, 20],  # four attempts, 35 s from first to last
    "webhook_disable_after_s": 3600.0,
    "events_poll_s": 1.0,
}


def event_settings(db_url: str, data_dir: Path, **overrides: Any) -> Settings:
    return make_settings(db_url, data_dir, **{**EVENT_SETTINGS, **overrides})


async def tenant_key(admin: httpx.AsyncClient, name: str) -> tuple[str, str]:
    """A new tenant's id and API key."""
    tenant = await admin.post("/v1/admin/tenants", json={"name": name})
    assert tenant.status_code == 201, tenant.text
    key = await admin.post(f"/v1/admin/tenants/{tenant.json()['id']}/keys", json={"name": "ci"})
    assert key.status_code == 201, key.text
    return str(tenant.json()["id"]), str(key.json()["key"])
