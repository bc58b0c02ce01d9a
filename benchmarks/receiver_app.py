"""The webhook receiver of the webhook benchmarks, run as a process of its own.

``python -m benchmarks.receiver_app --port PORT --max-s SECONDS``: an
aiohttp.web server on 127.0.0.1 that plays the customer's endpoint. Each
``POST /hook/{channel}`` is verified with the ``standardwebhooks`` package
against the channel's secret, every request, none sampled; a verified
request is answered with the current answer status (204, or 500 during an
outage), a bad one with 400. For every ``webhook-id`` answered with a 2xx it
keeps the ``time.monotonic()`` of the first such answer (comparable with
the harness's clock: both are the machine's CLOCK_MONOTONIC), how many 2xx
answers it got and the event type from the verified body.

A separate process, so that its CPU is not the harness's and the raw-POST
comparison runs client and receiver in two processes, as wagate and the
receiver do. The harness drives it through ``/control/...``; it exits on
SIGTERM, and by itself after ``--max-s`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

Arrival = list[Any]  # [first 2xx answer (monotonic s), 2xx answers, event type]


@dataclass
class Channel:
    verifier: Webhook
    requests: int = 0
    bad_signatures: int = 0
    refused: int = 0  # verified, answered with a non-2xx status (the outage)
    accepted_requests: int = 0
    arrivals: dict[str, Arrival] = field(default_factory=dict)
    last_new_at: float | None = None


class ReceiverState:
    def __init__(self) -> None:
        self.answer = 204
        self.answer_changed_at = time.monotonic()
        self.channels: dict[str, Channel] = {}

    async def hook(self, request: web.Request) -> web.Response:
        channel = self.channels.get(request.match_info["channel"])
        body = await request.read()
        if channel is None:
            return web.Response(status=404)
        channel.requests += 1
        try:
            event = channel.verifier.verify(body, dict(request.headers))
        except (WebhookVerificationError, ValueError):
            channel.bad_signatures += 1
            return web.Response(status=400, text="bad signature")
        status = self.answer
        if not 200 <= status < 300:
            channel.refused += 1
            return web.Response(status=status, text="outage")
        now = time.monotonic()
        channel.accepted_requests += 1
        event_id = request.headers["webhook-id"]
        arrival = channel.arrivals.get(event_id)
        if arrival is None:
            channel.arrivals[event_id] = [now, 1, event.get("type")]
            channel.last_new_at = now
        else:
            arrival[1] += 1
        return web.Response(status=status)

    async def add_channel(self, request: web.Request) -> web.Response:
        secret = (await request.json())["secret"]
        self.channels[request.match_info["channel"]] = Channel(Webhook(secret))
        return web.json_response({"ok": True})

    async def set_answer(self, request: web.Request) -> web.Response:
        self.answer = int((await request.json())["status"])
        self.answer_changed_at = time.monotonic()
        return web.json_response({"status": self.answer, "at": self.answer_changed_at})

    def _channel(self, request: web.Request) -> Channel:
        channel = self.channels.get(request.match_info["channel"])
        if channel is None:
            raise web.HTTPNotFound(text="no such channel")
        return channel

    async def stats(self, request: web.Request) -> web.Response:
        c = self._channel(request)
        return web.json_response(
            {
                "requests": c.requests,
                "bad_signatures": c.bad_signatures,
                "refused": c.refused,
                "accepted_requests": c.accepted_requests,
                "distinct": len(c.arrivals),
                "last_new_at": c.last_new_at,
                "now": time.monotonic(),
            }
        )

    async def arrivals(self, request: web.Request) -> web.Response:
        return web.json_response({"arrivals": self._channel(request).arrivals})

    async def health(self, _: web.Request) -> web.Response:
        return web.json_response({"ok": True})


def make_app(max_s: float) -> web.Application:
    state = ReceiverState()
    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/hook/{channel}", state.hook)
    app.router.add_put("/control/channels/{channel}", state.add_channel)
    app.router.add_put("/control/answer", state.set_answer)
    app.router.add_get("/control/channels/{channel}/stats", state.stats)
    app.router.add_get("/control/channels/{channel}/arrivals", state.arrivals)
    app.router.add_get("/control/health", state.health)

    async def deadline(_: web.Application) -> AsyncIterator[None]:
        async def stop_later() -> None:
            await asyncio.sleep(max_s)
            signal.raise_signal(signal.SIGTERM)  # run_app shuts down cleanly on it

        task = asyncio.create_task(stop_later())
        yield
        task.cancel()

    app.cleanup_ctx.append(deadline)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.receiver_app")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-s", type=float, default=1800.0, help="exit after this long")
    args = parser.parse_args()
    web.run_app(
        make_app(args.max_s),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        shutdown_timeout=1.0,
    )


if __name__ == "__main__":
    main()
