"""A fake wa-worker control plane on 127.0.0.1: seed 002's worker-facing HTTP contract
(its "Endpoints consumidos"), with the bodies docs/control-plane.md fixes, recording
every call.

State the tests arrange: ``max_active``, ``instances`` (id: priority), ``queue``
(instance: messages), ``primary_jids`` (lid: phone JID). What wagate reported:
``statuses``, ``sent`` and ``failed`` (every mark, duplicates kept), ``inbound``,
``uploads``, ``resolved``. Locks have a TTL in real time, as the control plane's do;
``hold(instance, worker)`` makes another worker (a Baileys wa-worker, say) hold one.
"""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SECRET = "wa-worker-secret-0123456789"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Lock:
    worker: str
    expires_at: float


@dataclass
class FakeControlPlane:
    secret: str = SECRET
    url: str = ""
    max_active: int | None = 1
    instances: dict[str, int] = field(default_factory=dict)
    queue: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    primary_jids: dict[str, str] = field(default_factory=dict)
    locks: dict[str, Lock] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    inbound: list[dict[str, Any]] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    lock_log: list[tuple[str, str, str]] = field(default_factory=list)  # action, instance, worker
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # ------------------------------------------------------------------ arranging

    def enqueue(self, instance: str, to: str, body: str, **extra: Any) -> str:
        message_id = f"m{next(self._ids)}"
        item = {"id": message_id, "to": to, "body": body, **extra}
        self.queue.setdefault(instance, []).append(item)
        return message_id

    def hold(self, instance: str, worker: str, ttl_s: float = 3600) -> None:
        self.locks[instance] = Lock(worker, time.monotonic() + ttl_s)

    def free(self, instance: str) -> None:
        self.locks.pop(instance, None)

    def holder(self, instance: str) -> str | None:
        lock = self.locks.get(instance)
        return lock.worker if lock is not None and lock.expires_at > time.monotonic() else None

    def sent_ids(self) -> list[str]:
        return [mark["id"] for mark in self.sent]

    # ------------------------------------------------------------------ serving

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/worker-settings", self._settings)
        app.router.add_get("/eligible-instances", self._eligible)
        app.router.add_post("/update-status", self._status)
        app.router.add_get("/queued-messages", self._queued)
        app.router.add_post("/mark-sent", self._mark_sent)
        app.router.add_post("/mark-failed", self._mark_failed)
        app.router.add_post("/inbound", self._inbound)
        app.router.add_post("/contacts/resolve", self._resolve)
        app.router.add_get("/contacts/primary-jid", self._primary_jid)
        app.router.add_post("/upload-media", self._upload)
        app.router.add_get("/media/{key}", self._media)
        app.router.add_post("/instance-lock/{action}", self._lock)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        if request.path.startswith("/media/"):
            return await handler(request)  # a public media link
        if request.headers.get("authorization") != f"Bearer {self.secret}":
            return web.json_response({"error": "unauthorized"}, status=401)
        return await handler(request)

    async def _settings(self, _: web.Request) -> web.Response:
        return web.json_response({"max_active_instances": self.max_active})

    async def _eligible(self, request: web.Request) -> web.Response:
        assert request.query.get("enabled") == "true"
        ranked = sorted(self.instances.items(), key=lambda item: -item[1])
        limit = int(request.query.get("limit", "50"))
        items = [{"id": name, "priority": priority} for name, priority in ranked[:limit]]
        return web.json_response({"instances": items})

    async def _status(self, request: web.Request) -> web.Response:
        self.statuses.append(await request.json())
        return web.json_response({"ok": True})

    async def _queued(self, request: web.Request) -> web.Response:
        instance = request.query["instanceId"]
        return web.json_response({"messages": list(self.queue.get(instance, []))})

    async def _mark_sent(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.sent.append(body)
        waiting = self.queue.get(body["instanceId"], [])
        self.queue[body["instanceId"]] = [m for m in waiting if m["id"] != body["id"]]
        return web.json_response({"ok": True})

    async def _mark_failed(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.failed.append(body)
        waiting = self.queue.get(body["instanceId"], [])
        self.queue[body["instanceId"]] = [m for m in waiting if m["id"] != body["id"]]
        return web.json_response({"ok": True})

    async def _inbound(self, request: web.Request) -> web.Response:
        self.inbound.append(await request.json())
        return web.json_response({"ok": True})

    async def _resolve(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.resolved.append(body)
        return web.json_response({"contact_id": f"contact-{body['jid'].split('@')[0]}"})

    async def _primary_jid(self, request: web.Request) -> web.Response:
        found = self.primary_jids.get(request.query["jid"])
        if found is None:
            return web.json_response({"error": "not_found"}, status=404)
        return web.json_response({"jid_pn": found})

    async def _upload(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = f"{body['instanceId']}-{body['messageId']}"
        self.uploads[key] = base64.b64decode(body["bytes_base64"])
        return web.json_response({"media_url": f"{self.url}/media/{key}"})

    async def _media(self, request: web.Request) -> web.Response:
        data = self.uploads.get(request.match_info["key"])
        return web.Response(body=data) if data is not None else web.Response(status=404)

    async def _lock(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        body = await request.json()
        instance, worker = body["instanceId"], body["workerId"]
        self.lock_log.append((action, instance, worker))
        now = time.monotonic()
        current = self.locks.get(instance)
        mine = current is not None and current.worker == worker
        live = current is not None and current.expires_at > now
        if action == "release":
            if mine:
                del self.locks[instance]
            return web.json_response({"ok": True})
        if current is not None and live and not mine:
            conflict = {"error": "lock_conflict", "holder": current.worker}
            return web.json_response(conflict, status=409)
        if action == "renew" and not (mine and live):
            return web.json_response({"error": "lock_conflict", "holder": None}, status=409)
        self.locks[instance] = Lock(worker, now + body.get("ttl_ms", 30000) / 1000)
        return web.json_response({"ok": True, "expires_in_ms": body.get("ttl_ms", 30000)})


@asynccontextmanager
async def running_fake_control_plane(**state: Any) -> AsyncIterator[FakeControlPlane]:
    fake = FakeControlPlane(**state)
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()
