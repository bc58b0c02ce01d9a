"""The reference for webhook delivery: plain signed POSTs from one aiohttp client.

The same receiver process, the same kind of body (a real ``message.received``
event as wagate sends it), the same headers, a fresh Standard Webhooks
signature per request made by the ``standardwebhooks`` package (as wagate
signs), and as many requests in flight as wagate's per-endpoint cap. No
database, no queue: what one HTTP client and this receiver do on this machine.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
from standardwebhooks import Webhook

from benchmarks.receiver import ReceiverProcess


@dataclass
class RawPosts:
    posts: int
    concurrency: int
    body_bytes: int
    ok: int = 0
    errors: int = 0
    error_samples: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    timed_out: bool = False
    client_cpu_s: float = 0.0
    receiver_cpu_s: float = 0.0
    verified: int = 0  # distinct ids the receiver verified and accepted

    @property
    def per_s(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0


def signed_headers(signer: Webhook, message_id: str, body: str) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "content-type": "application/json",
        "user-agent": "wagate-bench-raw",
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(now.timestamp())),
        "webhook-signature": signer.sign(msg_id=message_id, timestamp=now, data=body),
    }


async def raw_posts(
    receiver: ReceiverProcess,
    secret: str,
    body: str,
    *,
    count: int,
    concurrency: int,
    deadline_s: float,
) -> RawPosts:
    """``count`` signed POSTs to the receiver's ``raw`` channel, ``concurrency`` in flight."""
    await receiver.channel("raw", secret)
    signer = Webhook(secret)
    data = body.encode()
    result = RawPosts(posts=count, concurrency=concurrency, body_bytes=len(data))
    errors: Counter[str] = Counter()
    indexes = iter(range(count))
    url = receiver.hook_url("raw")
    ok = 0

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal ok
        for i in indexes:
            headers = signed_headers(signer, f"raw_{i}", body)
            try:
                async with http.post(url, data=data, headers=headers) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        ok += 1
                    else:
                        errors[f"HTTP {response.status}"] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors[type(exc).__name__] += 1

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=timeout
    ) as http:
        loop = asyncio.get_running_loop()
        cpu0, receiver0 = time.process_time(), receiver.cpu_seconds()
        t0 = loop.time()
        workers = [asyncio.create_task(worker(http)) for _ in range(concurrency)]
        try:
            await asyncio.wait_for(asyncio.gather(*workers), deadline_s)
        except TimeoutError:
            result.timed_out = True
        result.seconds = loop.time() - t0
        result.client_cpu_s = time.process_time() - cpu0
        result.receiver_cpu_s = receiver.cpu_seconds() - receiver0
    result.ok = ok
    result.errors = sum(errors.values())
    result.error_samples = dict(errors.most_common(5))
    result.verified = int((await receiver.stats("raw"))["distinct"])
    return result
