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
_STATUS = re.compile(r'status="([^"]*)"')


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
        session_id = await self.create_session(name)
        await self.connect(session_id, timeout)
        return session_id

    async def create_session(self, name: str) -> str:
        status, created = await self.call("POST", "/v1/sessions", {"name": name})
        if status != 201:
            raise ApiError(f"creating the session answered {status}: {created}")
        return str(created["id"])

    async def connect(self, session_id: str, timeout: float = 30.0) -> None:
        """Scan the session's QR code. Only the process that runs the session can."""
        await self._until(f"/v1/sessions/{session_id}/qr", lambda s, _: s == 200, timeout)
        status, answer = await self.call("POST", f"/v1/simulator/{session_id}/scan")
        if status != 202:
            raise ApiError(f"scanning the QR code answered {status}: {answer}")
        await self._until(
            f"/v1/sessions/{session_id}",
            lambda s, body: s == 200 and body.get("status") == "connected",
            timeout,
        )

    async def sessions_running_here(self) -> int:
        """``/health``'s count of the sessions whose lease this process holds."""
        status, body = await self.call("GET", "/health")
        if status != 200:
            raise ApiError(f"GET /health answered {status}: {body}")
        return int(body["sessions_running_here"])

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

    async def outbound_counts(self) -> dict[str, int]:
        """Outbound messages by committed status, from the database.

        Read from ``/metrics``, whose ``wagate_messages`` gauge is a GROUP BY over
        the messages table on every scrape: one cheap query, instead of paging
        through thousands of message rows on every poll.
        """
        status, text = await self.call("GET", "/metrics")
        if status != 200:
            raise ApiError(f"GET /metrics answered {status}")
        counts: dict[str, int] = {}
        for line in str(text).splitlines():
            match = _GAUGE.match(line)
            if match is None or 'direction="out"' not in match.group("labels"):
                continue
            found = _STATUS.search(match.group("labels"))
            key = found.group(1) if found else "?"
            counts[key] = counts.get(key, 0) + int(float(match.group("value")))
        return counts

    async def outbound_sent_count(self) -> int:
        """Outbound messages whose committed status is ``sent``."""
        return (await self.outbound_counts()).get("sent", 0)

    async def simulator_sent(self, session_id: str) -> list[dict[str, Any]]:
        """Every distinct message that reached the simulated network (one heavier request)."""
        status, body = await self.call("GET", f"/v1/simulator/{session_id}/sent")
        if status != 200:
            raise ApiError(f"GET /v1/simulator/{session_id}/sent answered {status}")
        return list(body["items"])

    async def simulator_sent_count(self, session_id: str) -> int:
        return len(await self.simulator_sent(session_id))

    async def outbound_messages(self, session_id: str, max_pages: int) -> list[dict[str, Any]]:
        """The session's stored outbound messages, 500 a page, at most ``max_pages`` pages."""
        path = f"/v1/sessions/{session_id}/messages"
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(max_pages):
            params = "?direction=out&limit=500" + (f"&cursor={cursor}" if cursor else "")
            status, page = await self.call("GET", path + params)
            if status != 200:
                raise ApiError(f"GET {path} answered {status}: {page}")
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items
        raise ApiError(f"GET {path}: more than {max_pages} pages")
