"""The smart queue: a window after the last message, longer after media, held open while
the contact types, flushed at the maximum wait or batch size; one brain call per batch."""

from __future__ import annotations

import httpx

from tests.engine.conftest import BrainServer
from tests.engine.helpers import (
    advance_until,
    assistant_session,
    caught_up,
    chat,
    hold_still,
    say,
    sent_texts,
    step_times,
    typing,
)
from tests.support.server import RunningServer, eventually


def _webhook(brain: BrainServer) -> dict[str, object]:
    return {"brain": {"kind": "webhook", "url": brain.url}}


async def _replied(server: RunningServer, sid: str) -> bool:
    return bool(await sent_texts(server, sid))


async def test_window_after_the_last_message(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(server, admin, **_webhook(brain))
    await say(admin, sid, "hello")
    await eventually(lambda: _pending(admin, sid, 1))
    await hold_still(server, 2)
    await say(admin, sid, "I have a question")
    await eventually(lambda: _pending(admin, sid, 2))
    await hold_still(server, 3.5)  # 3.5 s after the last message: still waiting
    assert brain.requests == []
    await advance_until(server, lambda: _replied(server, sid), step=0.25)
    assert await step_times(admin, sid, "batched") == ["2026-01-05T12:00:06Z"]  # 4 s after
    assert len(brain.requests) == 1
    assert brain.requests[0]["message"] == "hello\nI have a question"
    assert await sent_texts(server, sid) == ["ok"]


async def _pending(client: httpx.AsyncClient, sid: str, n: int) -> bool:
    return (await chat(client, sid))["pending"] == n


async def test_media_gets_a_longer_window(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(server, admin, **_webhook(brain))
    await say(admin, sid, "look", type="image", media={"mime_type": "image/jpeg", "size": 10})
    await eventually(lambda: _pending(admin, sid, 1))
    await hold_still(server, 4.5)
    assert brain.requests == []
    await advance_until(server, lambda: _replied(server, sid), step=0.25)
    assert await step_times(admin, sid, "batched") == ["2026-01-05T12:00:05Z"]
    request = brain.requests[0]
    assert request["type"] == "image"
    assert request["has_media"] is True
    assert request["media_count"] == 1
    assert request["media_list"][0]["mimetype"] == "image/jpeg"


async def test_typing_holds_the_window_and_stopping_restarts_it(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(server, admin, **_webhook(brain))
    await say(admin, sid, "hello")
    await eventually(lambda: _pending(admin, sid, 1))
    await hold_still(server, 1)
    await typing(admin, sid, "composing")
    await eventually(lambda: _typing(admin, sid, True))
    await hold_still(server, 10)  # far past the 4 s window: the contact is still typing
    assert brain.requests == []
    await typing(admin, sid, "paused")
    await eventually(lambda: _typing(admin, sid, False))
    await hold_still(server, 3.5)
    assert brain.requests == []
    await advance_until(server, lambda: _replied(server, sid), step=0.25)
    assert await step_times(admin, sid, "batched") == ["2026-01-05T12:00:15Z"]  # 11 + 4
    assert len(brain.requests) == 1


async def _typing(client: httpx.AsyncClient, sid: str, value: bool) -> bool:
    return (await chat(client, sid))["typing"] is value


async def test_flushed_at_the_maximum_wait(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(
        server, admin, **_webhook(brain), batching={"window_ms": 4000, "max_wait_ms": 10000}
    )
    for n in range(5):  # every 3 s: the 4 s window never closes
        await say(admin, sid, f"part {n}")
        await eventually(lambda n=n: _pending(admin, sid, n + 1))  # type: ignore[misc]
        await hold_still(server, 3)
        if brain.requests:
            break
    await caught_up(server)
    assert len(brain.requests) == 1
    assert brain.requests[0]["message"] == "part 0\npart 1\npart 2\npart 3"  # due at 10 s


async def test_flushed_at_the_maximum_batch(
    server: RunningServer, admin: httpx.AsyncClient, brain: BrainServer
) -> None:
    sid = await assistant_session(server, admin, **_webhook(brain), batching={"max_batch": 3})
    for n in range(3):
        await say(admin, sid, f"m{n}")

    async def batched() -> bool:  # at once: no clock time passes
        return await step_times(admin, sid, "batched") == ["2026-01-05T12:00:00Z"]

    await eventually(batched)
    await eventually(lambda: _replied(server, sid))
    assert [r["message"] for r in brain.requests] == ["m0\nm1\nm2"]
