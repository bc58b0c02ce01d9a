"""Fixtures for the simulator transport: a seeded network on a FakeClock, and an event log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from wagate.domain import FakeClock, TransportEvent
from wagate.transports.base import TransportContext
from wagate.transports.simulator import SimulatorInbound, SimulatorNetwork, SimulatorTransport

E = TypeVar("E")
SESSION = "ses_1"
CONTACT = "5511988887777"  # an arbitrary number on WhatsApp that is not in the address book


class EventLog:
    """An event sink that keeps everything it is given."""

    def __init__(self) -> None:
        self.events: list[TransportEvent] = []

    async def __call__(self, event: TransportEvent, /) -> None:
        self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]

    def clear(self) -> None:
        self.events.clear()


MakeTransport = Callable[..., SimulatorTransport]


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def network(clock: FakeClock) -> SimulatorNetwork:
    return SimulatorNetwork(clock, seed=7)


@pytest.fixture
async def make_transport(
    network: SimulatorNetwork, clock: FakeClock, events: EventLog, tmp_path: Path
) -> AsyncIterator[MakeTransport]:
    """Build transports on ``network``; every one is closed when the test ends."""
    made: list[SimulatorTransport] = []

    def make(
        session_id: str = SESSION,
        *,
        config: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        sink: EventLog | None = None,
    ) -> SimulatorTransport:
        context = TransportContext(
            session_id=session_id,
            session_name=session_id,
            config=config or {},
            credentials=credentials,
            data_dir=tmp_path,
            clock=clock,
            sink=sink or events,
        )
        transport = network.create_transport(context)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.close()


@pytest.fixture
async def online(
    make_transport: MakeTransport, network: SimulatorNetwork, events: EventLog
) -> SimulatorTransport:
    """A transport that has logged in by QR; the event log starts empty."""
    transport = make_transport()
    await transport.connect()
    await network.scan(SESSION)
    events.clear()
    return transport


def inbound(**fields: Any) -> SimulatorInbound:
    """A control-route body; ``sender=`` stands for the JSON ``from``."""
    if "sender" in fields:
        fields["from"] = fields.pop("sender")
    return SimulatorInbound.model_validate(fields)
