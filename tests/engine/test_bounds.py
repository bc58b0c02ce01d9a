"""Memory that tenants' input could grow is bounded: metric labels, SDK clients, voice audio."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from wagate.engine import voice
from wagate.engine.brains import MAX_CLIENTS, BrainError, Brains
from wagate.engine.brains.base import Audio
from wagate.engine.settings import BrainSettings
from wagate.observability import MAX_FREE_LABELS, OTHER, Metrics
from wagate.sessions.monitor import MAX_KINDS, ProtocolMonitor


def test_unknown_event_kinds_from_payloads_do_not_grow_the_metrics_without_bound() -> None:
    metrics = Metrics()
    monitor = ProtocolMonitor("evolution", metrics)
    for n in range(MAX_FREE_LABELS + 50):
        monitor.unknown_event(f"kind-{n}")
        monitor.unknown_close_code(5000 + n)
    kinds = {
        sample.labels["kind"]
        for family in metrics.unknown_events.collect()
        for sample in family.samples
    }
    assert len(kinds) == MAX_FREE_LABELS + 1
    assert OTHER in kinds
    assert len(monitor.unknown_events) == MAX_KINDS + 1  # and the "other" bucket
    assert monitor.unknown_events[OTHER] == 50
    assert len(monitor.unknown_close_codes) == MAX_KINDS


async def test_sdk_clients_are_bounded_and_the_oldest_closed() -> None:
    brains = Brains(allow_private=True, worker_id="w", media_max_bytes=1024)
    settings = BrainSettings(kind="openai", model="m")
    first = brains.build(settings, "sk-key-0", "bot")
    for n in range(1, MAX_CLIENTS + 5):
        brains.build(settings, f"sk-key-{n}", "bot")
    assert len(brains._clients) == MAX_CLIENTS
    await brains.close()
    assert first.client.is_closed()  # type: ignore[attr-defined]


@pytest.fixture
async def big_audio() -> AsyncIterator[tuple[str, list[int]]]:
    served: list[int] = []

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "audio/mpeg"})
        await response.prepare(request)
        try:
            for _ in range(1000):  # 64 MB if read to the end
                await response.write(b"\0" * 65536)
                served.append(65536)
        except (ConnectionResetError, RuntimeError):
            pass
        return response

    app = web.Application()
    app.router.add_get("/voice.mp3", endless)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/voice.mp3", served
    await runner.cleanup()


async def test_voice_audio_is_read_up_to_its_limit_only(
    big_audio: tuple[str, list[int]],
) -> None:
    url, served = big_audio
    async with httpx.AsyncClient() as http:
        with pytest.raises(BrainError, match="larger than"):
            await voice.fetch(Audio(url=url), http, allow_private=True, max_bytes=1024 * 1024)
    assert sum(served) < 64 * 1024 * 1024
