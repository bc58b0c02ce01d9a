"""A thin aiohttp client for wagate's API: session setup, sends, and progress counters.

aiohttp rather than httpx: on this machine httpx costs the load generator
several times more CPU per request (DESIGN.md), and the load generator shares
the two cores with the server it measures.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp

_GAUGE = re.compile(r"^wagate_messages\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$")


class ApiError(RuntimeError):
    pass


class Api:
    def __init__(self, base_url: str, api_key: str, *, connections: int = 256) -> None:
        self.base_url = base_url
        self.headers = {"authorization": f"Bearer {api_key}"}
        self.connections = connections
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Api:
        self._http = aiohttp.ClientSession(
            base_url=self.base_url,
            headers=self.headers,
            timeout=aiohttp.ClientTimeout(total=30),
            connector=aiohttp.TCPConnector(limit=self.connections),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.close()

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "use Api as an async context manager"
        return self._http

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, path, json=body) as response:
            data = await response.read()
            if response.content_type == "application/json" and data:
                return response.status, await response.json()
            return response.status, data.decode(errors="replace")

    async def status_of(self, method: str, path: str, body: Any = None) -> int:
        """The hot-path request: send, read the whole answer, keep only the status."""
        async with self.http.request(method, path, json=body) as response:
            await response.read()
            return response.status

    async def connected_simulator_session(self, name: str, timeout: float = 30.0) -> str:
        """Create a simulator session, scan its QR code and wait until it is connected."""
        status, created = await self.call("POST", "/v1/sessions", {"name": name})
        if status != 201:
            raise ApiError(f"creating the session answered {status}: {created}")
        session_id = str(created["id"])
        await self._until(f"/v1/sessions/{session_id}/qr", lambda s, _: s == 200, timeout)
        status, answer = await self.call("POST", f"/v1/simulator/{session_id}/scan")
        if status != 202:
            raise ApiError(f"scanning the QR code answered {status}: {answer}")
        await self._until(
            f"/v1/sessions/{session_id}",
            lambda s, body: s == 200 and body.get("status") == "connected",
            timeout,
        )
        return session_id

    async def _until(self, path: str, ok: Callable[[int, Any], bool], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        status, body = 0, None
        while loop.time() < deadline:
            status, body = await self.call("GET", path)
            if ok(status, body):
                return
            await asyncio.sleep(0.05)
        raise ApiError(f"GET {path} not as expected after {timeout:.0f} s: {status} {body}")

    async def outbound_sent_count(self) -> int:
        """Outbound messages whose committed status is ``sent``, from the database.

        Read from ``/metrics``, whose ``wagate_messages`` gauge is a GROUP BY over
        the messages table on every scrape: one cheap query, instead of paging
        through thousands of message rows on every poll.
        """
        status, text = await self.call("GET", "/metrics")
        if status != 200:
            raise ApiError(f"GET /metrics answered {status}")
        total = 0.0
        for line in str(text).splitlines():
            match = _GAUGE.match(line)
            if match is None:
                continue
            labels = match.group("labels")
            if 'direction="out"' in labels and 'status="sent"' in labels:
                total += float(match.group("value"))
        return int(total)

    async def simulator_sent_count(self, session_id: str) -> int:
        """Distinct messages that reached the simulated network (one heavier request)."""
        status, body = await self.call("GET", f"/v1/simulator/{session_id}/sent")
        if status != 200:
            raise ApiError(f"GET /v1/simulator/{session_id}/sent answered {status}")
        return len(body["items"])
