"""An external brain on loopback (aiohttp): records each request, answers as told."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web


@dataclass
class BrainServer:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)  # of each request, lower-case
    answer: Any = field(default_factory=lambda: {"output": "ok"})
    status: int = 200
    delay_s: float = 0.0
    gate: asyncio.Event | None = None  # when set, requests wait for it
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.url.rsplit("/", 1)[0]


@pytest.fixture
async def brain() -> AsyncIterator[BrainServer]:
    state = BrainServer(url="")

    async def handle(request: web.Request) -> web.StreamResponse:
        state.requests.append(await request.json())
        state.headers.append({k.lower(): v for k, v in request.headers.items()})
        if state.gate is not None:
            await state.gate.wait()
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        if isinstance(state.answer, str):
            return web.Response(text=state.answer, status=state.status)
        return web.json_response(state.answer, status=state.status)

    async def file(request: web.Request) -> web.Response:
        data = state.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="audio/wav")

    app = web.Application()
    app.router.add_post("/brain", handle)
    app.router.add_get("/files/{name}", file)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp internals
    state.url = f"http://127.0.0.1:{port}/brain"
    yield state
    if state.gate is not None:
        state.gate.set()
    await runner.cleanup()
