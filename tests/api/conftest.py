"""Fixtures of the API tests beyond the suite's own (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.events.support import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on loopback that records every request."""
    rx = await Receiver().start()
    yield rx
    await rx.stop()
