"""Simulator login: rotating QR codes, scanning, pairing codes, saved credentials, close codes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.transports.conftest import SESSION, EventLog, MakeTransport
from wagate.domain import (
    Conflict,
    Connected,
    CredentialsUpdated,
    Disconnected,
    FakeClock,
    InvalidDestination,
    Jid,
    MessageType,
    NotFound,
    NotWaitingForScan,
    OutgoingMessage,
    PairingCodeIssued,
    QrUpdated,
    TransportEvent,
)
from wagate.transports.simulator import SimulatorNetwork, SimulatorSettings, SimulatorTransport

QR_SHAPE = re.compile(
    r"2@[A-Za-z0-9+/]{80},[A-Za-z0-9+/]{43}=,[A-Za-z0-9+/]{43}=,[A-Za-z0-9+/]{43}="
)
PAIRING_SHAPE = re.compile(r"[1-9A-HJ-NP-TV-Z]{4}-[1-9A-HJ-NP-TV-Z]{4}")


async def test_qr_codes_rotate_then_time_out(
    make_transport: MakeTransport, clock: FakeClock, events: EventLog, network: SimulatorNetwork
) -> None:
    start = clock.now()
    transport = make_transport()
    await transport.connect()  # returns with the first code shown, the rotation runs behind
    assert events.kinds() == ["QrUpdated"]
    assert clock.pending == 1

    await clock.advance(59.9)
    assert len(events.of(QrUpdated)) == 1
    for expected_expiry in (60, 80, 100, 120):  # each later code lives 20 s
        await clock.advance(
            (start + timedelta(seconds=expected_expiry) - clock.now()).total_seconds()
        )
        assert events.of(QrUpdated)[-1].expires_at == start + timedelta(
            seconds=expected_expiry + 20
        )
    assert not events.of(Disconnected)

    await clock.advance(19.9)
    assert not events.of(Disconnected)
    await clock.advance(0.1)  # the fifth code expires at +140 s
    qrs = events.of(QrUpdated)
    assert [q.expires_at - start for q in qrs] == [
        timedelta(seconds=s) for s in (60, 80, 100, 120, 140)
    ]
    assert events.events[-1] == Disconnected(408, "qr_timeout")
    assert all(QR_SHAPE.fullmatch(q.qr) for q in qrs)
    assert len({q.qr for q in qrs}) == 5
    assert len({q.qr.split(",", 1)[1] for q in qrs}) == 1  # keys stay, the ref rotates
    assert not transport.connected
    assert network.current_qr(SESSION) is None
    assert clock.pending == 0

    await clock.advance(600)
    assert len(events.events) == 6


async def test_scanning_needs_a_valid_qr(
    make_transport: MakeTransport, clock: FakeClock, network: SimulatorNetwork
) -> None:
    with pytest.raises(NotFound):
        await network.scan("ses_unknown")
    transport = make_transport()
    with pytest.raises(NotWaitingForScan) as not_started:
        await network.scan(SESSION)
    assert not_started.value.status_code == 409

    await transport.connect()
    await clock.advance(140)  # every code expired
    with pytest.raises(NotWaitingForScan):
        await network.scan(SESSION)


async def test_scan_links_the_device_and_connects(
    make_transport: MakeTransport, clock: FakeClock, events: EventLog, network: SimulatorNetwork
) -> None:
    transport = make_transport()
    await transport.connect()
    await clock.advance(70)  # the second code is showing
    qr, _ = network.current_qr(SESSION) or ("", None)
    assert qr == events.of(QrUpdated)[-1].qr
    events.clear()

    await network.scan(SESSION)

    phone = network.phone(SESSION)
    assert events.events == [
        CredentialsUpdated({"simulator": True, "phone": phone.number, "device_id": 1}),
        Connected(phone.number, phone.push_name, phone.lid),
    ]
    assert transport.connected
    assert phone.linked
    assert phone.connected
    assert clock.pending == 0  # the QR rotation stopped
    await clock.advance(600)
    assert len(events.events) == 2
    with pytest.raises(NotWaitingForScan):
        await network.scan(SESSION)  # already linked


async def test_saved_credentials_connect_without_a_qr(
    make_transport: MakeTransport, clock: FakeClock, events: EventLog, network: SimulatorNetwork
) -> None:
    first = make_transport()
    await first.connect()
    await network.scan(SESSION)
    credentials = events.of(CredentialsUpdated)[0].credentials
    number = network.phone(SESSION).number
    await first.close()
    events.clear()

    again = make_transport(credentials=credentials)
    await again.connect()
    assert events.kinds() == ["Connected"]
    assert again.connected

    # A new process: a fresh network (same seed) accepts the saved link too.
    restarted = SimulatorNetwork(clock, seed=7)
    log = EventLog()
    context = again.context
    context.sink, context.credentials = log, credentials
    other = restarted.create_transport(context)
    await other.connect()
    assert log.events == [
        Connected(number, network.phone(SESSION).push_name, network.phone(SESSION).lid)
    ]
    await other.close()


async def test_credentials_of_another_phone_are_ignored(
    make_transport: MakeTransport, events: EventLog
) -> None:
    transport = make_transport(
        credentials={"simulator": True, "phone": "5511900000000", "device_id": 3}
    )
    transport.phone.number = "5511911111111"  # the phone exists with another number
    await transport.connect()
    assert events.kinds() == ["QrUpdated"]


async def test_pairing_code_links_that_number(
    make_transport: MakeTransport, events: EventLog, network: SimulatorNetwork
) -> None:
    transport = make_transport()
    with pytest.raises(NotWaitingForScan):
        await transport.request_pairing_code("5521999990000")  # not started
    await transport.connect()
    with pytest.raises(InvalidDestination):
        await transport.request_pairing_code("12")

    code = await transport.request_pairing_code("+55 (21) 99999-0000")

    assert PAIRING_SHAPE.fullmatch(code)
    assert events.of(PairingCodeIssued) == [PairingCodeIssued(code, "5521999990000")]
    with pytest.raises(Conflict) as wrong:
        await network.enter_pairing_code(SESSION, "AAAA-AAAA")
    assert wrong.value.code == "invalid_pairing_code"
    assert not transport.connected

    await network.enter_pairing_code(SESSION, code.replace("-", "").lower())

    assert events.of(CredentialsUpdated)[-1].credentials == {
        "simulator": True,
        "phone": "5521999990000",
        "device_id": 1,
    }
    assert events.of(Connected)[-1].phone == "5521999990000"
    assert network.phone(SESSION).number == "5521999990000"
    with pytest.raises(Conflict) as again:
        await transport.request_pairing_code("5521999990000")
    assert again.value.code == "already_logged_in"


async def test_pairing_code_expires(make_transport: MakeTransport, clock: FakeClock) -> None:
    network = SimulatorNetwork(clock, settings=SimulatorSettings(pairing_code_ttl_s=30))
    log = EventLog()
    transport = network.create_transport(make_transport(sink=log).context)
    await transport.connect()
    code = await transport.request_pairing_code("5521999990000")
    await clock.advance(30)
    with pytest.raises(Conflict) as expired:
        await network.enter_pairing_code(SESSION, code)
    assert expired.value.code == "invalid_pairing_code"
    await transport.close()


async def test_a_dropped_connection_reconnects_with_its_credentials(
    online: SimulatorTransport, events: EventLog, network: SimulatorNetwork
) -> None:
    await network.disconnect(SESSION, 428)
    assert events.events == [Disconnected(428, "connection_closed")]
    assert not online.connected

    await online.connect()
    assert events.kinds() == ["Disconnected", "Connected"]


@pytest.mark.parametrize(("code", "reason"), [(401, "logged_out"), (403, "forbidden")])
async def test_logged_out_or_banned_wipes_the_credentials(
    online: SimulatorTransport,
    events: EventLog,
    network: SimulatorNetwork,
    make_transport: MakeTransport,
    code: int,
    reason: str,
) -> None:
    credentials = online.context.credentials
    assert credentials is not None

    await network.disconnect(SESSION, code)

    assert events.events == [CredentialsUpdated(None), Disconnected(code, reason)]
    assert not network.phone(SESSION).linked
    events.clear()
    stale = make_transport(credentials=credentials)  # someone kept the old link
    await stale.connect()
    assert events.events == [CredentialsUpdated(None), Disconnected(401, "logged_out")]


async def test_disconnect_needs_a_running_session(
    make_transport: MakeTransport, network: SimulatorNetwork
) -> None:
    with pytest.raises(NotFound):
        await network.disconnect("ses_unknown", 428)
    make_transport()
    with pytest.raises(Conflict) as idle:
        await network.disconnect(SESSION, 428)
    assert idle.value.code == "not_connected"
    with pytest.raises(ValueError, match="close code"):
        await network.disconnect(SESSION, 42)


async def test_logout_unlinks_and_emits_only_the_wipe(
    online: SimulatorTransport, events: EventLog, network: SimulatorNetwork
) -> None:
    await online.logout()
    assert events.events == [CredentialsUpdated(None)]
    assert not online.connected
    assert not network.phone(SESSION).linked
    assert online.context.credentials is None


async def test_close_stops_everything_and_emits_nothing(
    make_transport: MakeTransport, clock: FakeClock, events: EventLog
) -> None:
    transport = make_transport()
    await transport.connect()
    await transport.close()
    await clock.advance(600)
    assert events.kinds() == ["QrUpdated"]
    assert clock.pending == 0


async def test_a_newer_transport_replaces_the_older(
    online: SimulatorTransport, events: EventLog, make_transport: MakeTransport
) -> None:
    newer_events = EventLog()
    newer = make_transport(credentials=online.context.credentials, sink=newer_events)
    await newer.connect()
    assert events.events == [Disconnected(440, "connection_replaced")]
    assert newer_events.kinds() == ["Connected"]
    assert newer.connected
    assert not online.connected


async def test_a_sink_may_scan_as_soon_as_the_qr_shows(
    make_transport: MakeTransport, network: SimulatorNetwork, clock: FakeClock
) -> None:
    seen: list[TransportEvent] = []

    async def scanning_sink(event: TransportEvent) -> None:
        seen.append(event)
        if isinstance(event, QrUpdated):
            await network.scan(SESSION)

    transport = make_transport()
    transport.context.sink = scanning_sink
    await transport.connect()
    assert [type(e).__name__ for e in seen] == ["QrUpdated", "CredentialsUpdated", "Connected"]
    assert transport.connected
    assert clock.pending == 0


async def test_a_later_qr_may_be_scanned_from_inside_the_sink(
    make_transport: MakeTransport, network: SimulatorNetwork, clock: FakeClock
) -> None:
    seen: list[TransportEvent] = []

    async def scan_the_third(event: TransportEvent) -> None:
        seen.append(event)
        if isinstance(event, QrUpdated) and len(seen) == 3:
            await network.scan(SESSION)

    transport = make_transport()
    transport.context.sink = scan_the_third
    await transport.connect()
    await clock.advance(80)
    assert [type(e).__name__ for e in seen] == [
        "QrUpdated",
        "QrUpdated",
        "QrUpdated",
        "CredentialsUpdated",
        "Connected",
    ]
    assert transport.connected
    assert clock.pending == 0  # the rotation ended instead of sleeping on


async def test_closing_from_inside_the_sink_on_connect_leaves_no_timers(
    online: SimulatorTransport,
    network: SimulatorNetwork,
    clock: FakeClock,
    make_transport: MakeTransport,
) -> None:
    await online.send(
        OutgoingMessage(
            "m1", "3EB01", Jid("5511988887777@s.whatsapp.net"), MessageType.TEXT, text="x"
        )
    )
    credentials = online.context.credentials
    await online.close()

    closing = make_transport(credentials=credentials)

    async def close_on_connect(event: TransportEvent) -> None:
        if isinstance(event, Connected):
            await closing.close()

    closing.context.sink = close_on_connect
    await closing.connect()
    assert not closing.connected
    assert clock.pending == 0
