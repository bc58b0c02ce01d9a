"""Fixtures for webhook and stream tests: receivers on loopback, a clock near real time.

The clock starts at the real current time so that the Standard Webhooks
verifier, which checks ``webhook-timestamp`` against the wall clock (5 min
tolerance), accepts the signatures; tests move it by less than that when
they verify. The ``server`` here has a short retry schedule (0, 5, 10, 20 s).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.events.support import Receiver, event_settings
from tests.support.server import RunningServer, running_server
from wagate.domain import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def server(db_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[RunningServer]:
    async with running_server(event_settings(db_url, tmp_path / "data"), clock) as running:
        yield running


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rx = await Receiver().start()
    yield rx
    await rx.stop()


@pytest.fixture
async def other_receiver() -> AsyncIterator[Receiver]:
    rx = await Receiver().start()
    yield rx
    await rx.stop()
