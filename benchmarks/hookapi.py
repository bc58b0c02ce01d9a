"""What the webhook benchmarks ask wagate's API, and how they compare the log with arrivals.

Events are made with ``POST /v1/simulator/{id}/inbound`` on a connected
simulator session: one API call, one ``message.received`` event. The log is
read back with ``GET /v1/events?after=CURSOR&limit=1000``, paging ``after``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from benchmarks.api import Api, ApiError
from benchmarks.receiver import Arrival, ReceiverProcess

PAGE = 1000  # the largest page GET /v1/events gives
SENDERS = 50  # distinct contacts the inbound messages come from


def inbound_body(i: int) -> dict[str, Any]:
    return {"from": f"55118{i % SENDERS:08d}", "text": f"bench inbound {i}"}


async def inbound(api: Api, session_id: str, i: int) -> bool:
    """One inbound message (one event); False if it was not accepted."""
    path = f"/v1/simulator/{session_id}/inbound"
    try:
        return await api.status_of("POST", path, inbound_body(i)) == 202
    except (aiohttp.ClientError, TimeoutError):
        return False


@dataclass
class Calls:
    ok: int = 0
    failed: int = 0


async def generate(
    calls: Calls, api: Api, session_id: str, first: int, count: int, in_flight: int
) -> None:
    """Inbound messages ``first`` .. ``first + count - 1``, ``in_flight`` calls at a time.

    Counted in ``calls`` as they are answered, so a caller that stops waiting (a
    deadline) still knows how many were accepted.
    """
    indexes = iter(range(first, first + count))

    async def worker() -> None:
        for i in indexes:
            if await inbound(api, session_id, i):
                calls.ok += 1
            else:
                calls.failed += 1

    await asyncio.gather(*(worker() for _ in range(in_flight)))


def delivery_body(event: dict[str, Any]) -> str:
    """An event of the log as a webhook body: ``type``, ``timestamp``, ``session_id``, ``data``."""
    keys = ("type", "timestamp", "session_id", "data")
    return json.dumps({k: event[k] for k in keys}, separators=(",", ":"), ensure_ascii=False)


async def create_webhook(api: Api, url: str) -> dict[str, Any]:
    """A webhook for every event type (``*``), the default cap of requests in flight."""
    status, body = await api.call("POST", "/v1/webhooks", {"url": url, "events": ["*"]})
    if status != 201:
        raise ApiError(f"creating the webhook answered {status}: {body}")
    return dict(body)


async def log_after(api: Api, cursor: str, max_pages: int) -> list[dict[str, Any]]:
    """Every event of the log after ``cursor``, oldest first, at most ``max_pages`` pages."""
    items: list[dict[str, Any]] = []
    for _ in range(max_pages):
        status, page = await api.call("GET", f"/v1/events?after={cursor}&limit={PAGE}")
        if status != 200:
            raise ApiError(f"GET /v1/events answered {status}: {page}")
        items += page["items"]
        if len(page["items"]) < PAGE:
            return items
        cursor = page["next_cursor"]
    raise ApiError(f"GET /v1/events: more than {max_pages} pages")


async def wait_logged(
    api: Api, cursor: str, count: int, timeout: float, received: int = 0
) -> list[dict[str, Any]]:
    """Until ``count`` events, ``received`` of them ``message.received``, follow ``cursor``.

    Inbound messages are logged asynchronously, a moment after the call is answered.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pages = max(count, received) // PAGE + 2

    def enough(items: list[dict[str, Any]]) -> bool:
        got = sum(1 for e in items if e["type"] == "message.received")
        return len(items) >= count and got >= received

    items = await log_after(api, cursor, pages)
    for _ in range(int(timeout / 0.1) + 1):
        if enough(items) or loop.time() >= deadline:
            break
        await asyncio.sleep(0.1)
        items = await log_after(api, cursor, pages)
    return items


async def last_cursor(api: Api, after: str = "0", max_pages: int = 100) -> str:
    """The cursor of the log's last event (``after`` if there is none after it)."""
    items = await log_after(api, after, max_pages)
    return str(items[-1]["cursor"]) if items else after


async def set_enabled(api: Api, webhook_id: str, enabled: bool) -> None:
    action = "enable" if enabled else "disable"
    status, body = await api.call("POST", f"/v1/webhooks/{webhook_id}/{action}")
    if status != 200:
        raise ApiError(f"POST /v1/webhooks/{webhook_id}/{action} answered {status}: {body}")


async def dead_deliveries(api: Api, webhook_id: str) -> int:
    status, page = await api.call(
        "GET", f"/v1/webhooks/{webhook_id}/deliveries?status=dead&limit=500"
    )
    if status != 200:
        raise ApiError(f"GET deliveries answered {status}: {page}")
    return len(page["items"])


async def wait_connected(api: Api, session_id: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    body: Any = None
    for _ in range(int(timeout / 0.1) + 1):
        if loop.time() >= deadline:
            break
        status, body = await api.call("GET", f"/v1/sessions/{session_id}")
        if status == 200 and body.get("status") == "connected":
            return
        await asyncio.sleep(0.1)
    raise ApiError(f"session {session_id} not connected after {timeout:.0f} s: {body}")


@dataclass
class Comparison:
    """The log against what the receiver accepted (every accepted request was verified)."""

    logged: int = 0
    arrived: int = 0  # events of the log answered with a 2xx at least once
    missing: int = 0
    duplicates: int = 0  # 2xx answers beyond the first, for events of the log
    duplicated_events: int = 0
    type_mismatches: int = 0
    not_in_log: int = 0  # accepted ids that are not events of the log


def compare(log: list[dict[str, Any]], arrivals: dict[str, Arrival]) -> Comparison:
    result = Comparison(logged=len(log))
    ids = set()
    for event in log:
        ids.add(event["id"])
        got = arrivals.get(event["id"])
        if got is None:
            result.missing += 1
            continue
        result.arrived += 1
        result.duplicates += got.accepted - 1
        result.duplicated_events += got.accepted > 1
        result.type_mismatches += got.type != event["type"]
    result.not_in_log = len(set(arrivals) - ids)
    return result


async def wait_all_arrived(
    receiver: ReceiverProcess, channel: str, log: list[dict[str, Any]], timeout: float
) -> dict[str, Arrival]:
    """Until every event of ``log`` was accepted on ``channel`` (bounded); the arrivals then."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    wanted = {event["id"] for event in log}
    arrivals = await receiver.arrivals(channel)
    for _ in range(int(timeout / 0.2) + 1):
        if wanted <= arrivals.keys() or loop.time() >= deadline:
            break
        await receiver.wait_distinct(channel, len(wanted), max(0.1, deadline - loop.time()))
        arrivals = await receiver.arrivals(channel)
        if not wanted <= arrivals.keys():
            await asyncio.sleep(0.2)
    return arrivals
