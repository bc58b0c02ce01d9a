"""The simulator's ledger: what reached the network outlives the gateway process."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.transports.conftest import CONTACT, SESSION, EventLog, MakeTransport
from wagate.domain import (
    ConnectionGone,
    CredentialsUpdated,
    Disconnected,
    FakeClock,
    Jid,
    MessageType,
    OutgoingMessage,
    Reaction,
    phone_jid,
)
from wagate.transports.base import TransportContext
from wagate.transports.simulator import SentRecord, SimulatorNetwork, SimulatorTransport
from wagate.transports.simulator.ledger import SentLedger
from wagate.transports.simulator.links import read_lines

TO = phone_jid(CONTACT)


def outgoing(wa_id: str, text: str = "hello", **fields: Any) -> OutgoingMessage:
    fields.setdefault("type", MessageType.TEXT)
    return OutgoingMessage(f"msg_{wa_id[-1]}", wa_id, Jid(TO), text=text, **fields)


def line(wa_id: str, text: str | None = "hello", type: str = "text") -> dict[str, Any]:
    """A ledger line as the network writes it for ``outgoing(wa_id, text)``."""
    return {
        "wa_message_id": wa_id,
        "message_id": f"msg_{wa_id[-1]}",
        "to": TO,
        "type": type,
        "text": text,
    }


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in path.read_text("ascii").splitlines()]


def names(directory: Path) -> list[str]:
    """The ledger files (each session also has a ``.epoch`` counter beside its ledger, and
    its link files: which connection is its newest, see ``simulator.links``)."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".sent.jsonl"))


def every_file(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


class Gateway:
    """One run of the gateway process: a network on the shared ledger directory."""

    def __init__(self, clock: FakeClock, tmp_path: Path) -> None:
        self.ledger_dir = tmp_path / "simulator"
        self.network = SimulatorNetwork(clock, seed=7, ledger_dir=self.ledger_dir)
        self.events = EventLog()
        self.transports: list[SimulatorTransport] = []
        self._clock = clock
        self._data_dir = tmp_path

    async def start(
        self,
        session_id: str = SESSION,
        credentials: dict[str, Any] | None = None,
        lease_token: int | None = None,
    ) -> SimulatorTransport:
        """The session's transport, connected: with saved credentials, or by a QR scan."""
        context = TransportContext(
            session_id,
            session_id,
            {},
            credentials,
            self._data_dir,
            self._clock,
            self.events,
            lease_token=lease_token,
        )
        transport = self.network.create_transport(context)
        self.transports.append(transport)
        await transport.connect()
        if credentials is None:
            await self.network.scan(session_id)
        assert transport.connected
        return transport

    def credentials(self) -> dict[str, Any]:
        saved = self.events.of(CredentialsUpdated)[-1].credentials
        assert saved is not None
        return saved

    async def stop(self) -> None:
        for transport in self.transports:
            await transport.close()
        self.network.close()


Boot = Callable[[], Gateway]


@pytest.fixture
async def boot(clock: FakeClock, tmp_path: Path) -> AsyncIterator[Boot]:
    """Start gateway runs; the earlier ones are not stopped first, as after a SIGKILL."""
    runs: list[Gateway] = []

    def start() -> Gateway:
        runs.append(Gateway(clock, tmp_path))
        return runs[-1]

    yield start
    for run in runs:
        await run.stop()


async def test_every_transmission_is_a_line_of_the_sessions_file(boot: Boot) -> None:
    gateway = boot()
    transport = await gateway.start()
    await transport.send(outgoing("3EB0A"))
    await transport.send(outgoing("3EB0B", text="olá 🎉\nnext line"))
    await transport.send(outgoing("3EB0A"))  # a retry: the same message again
    react = Reaction(message_id="3EB0B", emoji="👍")
    await transport.send(outgoing("3EB0C", text="", type=MessageType.REACTION, reaction=react))

    path = gateway.ledger_dir / f"{SESSION}.sent.jsonl"
    assert names(gateway.ledger_dir) == [path.name]
    assert lines(path) == [
        line("3EB0A"),
        line("3EB0B", "olá 🎉\nnext line"),
        line("3EB0A"),
        line("3EB0C", "👍", type="reaction"),
    ]
    assert path.read_bytes().isascii()  # escaped: one transmission, one physical line
    assert [(r.wa_message_id, r.transmissions) for r in gateway.network.sent(SESSION)] == [
        ("3EB0A", 2),
        ("3EB0B", 1),
        ("3EB0C", 1),
    ]


async def test_a_restarted_gateway_finds_what_reached_the_network(boot: Boot) -> None:
    before = boot()
    transport = await before.start()
    for wa_id in ("3EB0A", "3EB0B", "3EB0A", "3EB0C"):
        await transport.send(outgoing(wa_id))
    remembered = before.network.sent(SESSION)
    identity = before.network.phone(SESSION)

    after = boot()  # the first run was killed: nothing was closed
    transport = await after.start(credentials=before.credentials())
    assert after.network.sent(SESSION) == remembered
    assert after.network.phone(SESSION) == identity  # same number, push name, link
    await transport.send(outgoing("3EB0B"))  # the retry the crash left pending
    await transport.send(outgoing("3EB0D"))

    expected = [
        SentRecord("3EB0A", "msg_A", TO, "text", "hello", transmissions=2),
        SentRecord("3EB0B", "msg_B", TO, "text", "hello", transmissions=2),
        SentRecord("3EB0C", "msg_C", TO, "text", "hello", transmissions=1),
        SentRecord("3EB0D", "msg_D", TO, "text", "hello", transmissions=1),
    ]
    assert after.network.sent(SESSION) == expected
    third = boot()
    assert not third.network.has_phone(SESSION)  # the file is read with the session's phone
    await third.start(credentials=before.credentials())
    assert third.network.sent(SESSION) == expected


async def test_the_first_copy_is_kept_and_later_ones_only_counted(boot: Boot) -> None:
    gateway = boot()
    path = gateway.ledger_dir / f"{SESSION}.sent.jsonl"
    path.parent.mkdir()
    path.write_text(
        json.dumps(line("3EB0A", "first"))
        + "\n"
        + json.dumps(line("3EB0A", "edited?") | {"to": "x"})
        + "\n"
    )
    await gateway.start()
    assert gateway.network.sent(SESSION) == [
        SentRecord("3EB0A", "msg_A", TO, "text", "first", transmissions=2)
    ]


async def test_a_torn_last_line_is_ignored_and_cut_off(boot: Boot) -> None:
    gateway = boot()
    path = gateway.ledger_dir / f"{SESSION}.sent.jsonl"
    path.parent.mkdir()
    whole = (json.dumps(line("3EB0A", "hi")) + "\n").encode()
    path.write_bytes(whole + whole + b'{"wa_message_id":"3EB0B","mess')  # killed mid-write

    with capture_logs() as logs:
        transport = await gateway.start()
    assert [(r.wa_message_id, r.transmissions) for r in gateway.network.sent(SESSION)] == [
        ("3EB0A", 2)
    ]
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
        "simulator_ledger_torn_line_dropped"
    ]
    assert path.read_bytes() == whole + whole
    await transport.send(outgoing("3EB0B"))  # starts on a line of its own
    assert lines(path)[-1] == line("3EB0B")


async def test_a_damaged_line_inside_the_file_is_skipped_with_a_warning(boot: Boot) -> None:
    gateway = boot()
    path = gateway.ledger_dir / f"{SESSION}.sent.jsonl"
    path.parent.mkdir()
    good = json.dumps(line("3EB0A", None))
    path.write_text(f"{good}\nnot json\n\n[1]\n{json.dumps({'wa_message_id': 5})}\n{good}\n")

    with capture_logs() as logs:
        await gateway.start()
    assert gateway.network.sent(SESSION) == [
        SentRecord("3EB0A", "msg_A", TO, "text", None, transmissions=2)
    ]
    skipped = [e["line"] for e in logs if e["event"] == "simulator_ledger_line_skipped"]
    assert skipped == [2, 4, 5]  # the empty line 3 is no damage


async def test_reset_clears_the_file_too(boot: Boot) -> None:
    gateway = boot()
    transport = await gateway.start()
    path = gateway.ledger_dir / f"{SESSION}.sent.jsonl"
    await transport.send(outgoing("3EB0A"))
    gateway.network.reset(SESSION)
    assert not path.exists()
    await transport.send(outgoing("3EB0B"))
    assert lines(path) == [line("3EB0B")]

    gateway.network.reset()
    restarted = boot()
    await restarted.start(credentials=gateway.credentials())
    assert restarted.network.sent(SESSION) == []


async def test_forget_drops_the_phone_and_its_file(boot: Boot) -> None:
    gateway = boot()
    transport = await gateway.start()
    await gateway.start("ses_other")
    await transport.send(outgoing("3EB0A"))
    await gateway.transports[1].send(outgoing("3EB0B"))
    await transport.close()

    gateway.network.forget(SESSION)
    assert not gateway.network.has_phone(SESSION)
    assert names(gateway.ledger_dir) == ["ses_other.sent.jsonl"]
    gateway.network.forget(SESSION)  # again, and for sessions it never had: nothing to do
    gateway.network.forget("ses_unknown")

    restarted = boot()  # a file left by an earlier run goes too, phone or not
    restarted.network.forget("ses_other")
    assert every_file(gateway.ledger_dir) == []  # the epoch and link files as well


async def test_after_close_sends_are_still_kept(boot: Boot) -> None:
    gateway = boot()
    transport = await gateway.start()
    await transport.send(outgoing("3EB0A"))
    gateway.network.close()
    gateway.network.close()
    await transport.send(outgoing("3EB0B"))  # a straggler during shutdown
    await gateway.start("ses_late")  # a phone created after close
    await gateway.transports[1].send(outgoing("3EB0C"))

    path = gateway.ledger_dir / f"{SESSION}.sent.jsonl"
    assert [entry["wa_message_id"] for entry in lines(path)] == ["3EB0A", "3EB0B"]
    assert lines(gateway.ledger_dir / "ses_late.sent.jsonl") == [line("3EB0C")]


def test_a_ledger_dropped_without_close_closes_its_file(tmp_path: Path) -> None:
    ledger = SentLedger(tmp_path / "ses_1.sent.jsonl")
    assert ledger.load() == {}
    ledger.append(SentRecord("3EB0A", "msg_A", TO, "text", "hello"))
    file = ledger._file  # the handle itself must not leak
    assert file is not None
    assert not file.closed
    del ledger
    gc.collect()
    assert file.closed  # and no ResourceWarning, which would fail the test
    assert lines(tmp_path / "ses_1.sent.jsonl") == [line("3EB0A")]


async def test_session_ids_become_plain_file_names(boot: Boot) -> None:
    gateway = boot()
    transport = await gateway.start("../a/b")
    await transport.send(outgoing("3EB0A"))
    assert every_file(gateway.ledger_dir) == [
        "..%2Fa%2Fb.link",
        "..%2Fa%2Fb.links.jsonl",
        "..%2Fa%2Fb.sent.epoch",
        "..%2Fa%2Fb.sent.jsonl",
    ]


async def test_lone_surrogates_survive_the_round_trip(boot: Boot) -> None:
    gateway = boot()
    transport = await gateway.start()
    await transport.send(outgoing("3EB0A", text="broken \ud83d pair"))
    restarted = boot()
    await restarted.start(credentials=gateway.credentials())
    assert restarted.network.sent(SESSION)[0].text == "broken \ud83d pair"


async def test_without_a_ledger_dir_nothing_is_written(
    online: SimulatorTransport, network: SimulatorNetwork, tmp_path: Path, clock: FakeClock
) -> None:
    await online.send(outgoing("3EB0A"))
    await online.send(outgoing("3EB0A"))
    assert network.ledger_dir is None
    assert online.phone.ledger is None
    assert [(r.wa_message_id, r.transmissions) for r in network.sent(SESSION)] == [("3EB0A", 2)]
    assert names(tmp_path) == []
    network.forget(SESSION)
    network.close()
    assert not network.has_phone(SESSION)
    assert SimulatorNetwork(clock, seed=7).has_phone(SESSION) is False


async def test_without_a_ledger_a_new_network_remembers_nothing(
    make_transport: MakeTransport, network: SimulatorNetwork, clock: FakeClock, tmp_path: Path
) -> None:
    transport = make_transport()
    await transport.connect()
    await network.scan(SESSION)
    await transport.send(outgoing("3EB0A"))
    other = SimulatorNetwork(clock, seed=7)
    context = TransportContext(SESSION, SESSION, {}, None, tmp_path, clock, EventLog())
    fresh = other.create_transport(context)
    assert other.sent(SESSION) == []
    await fresh.close()


async def test_inbound_ids_do_not_repeat_after_a_restart(boot: Boot) -> None:
    """Each process start is a new epoch of the seeded id sequence, so ids never repeat."""
    from wagate.transports.simulator import SimulatorInbound

    first = boot()
    await first.start()
    before = [
        await first.network.inbound(
            SESSION, SimulatorInbound.model_validate({"from": "5511988887777", "text": f"m{i}"})
        )
        for i in range(3)
    ]
    saved = first.credentials()
    second = boot()
    await second.start(credentials=saved)
    after = [
        await second.network.inbound(
            SESSION, SimulatorInbound.model_validate({"from": "5511988887777", "text": f"m{i}"})
        )
        for i in range(3)
    ]
    assert not set(before) & set(after)
    epoch = first.ledger_dir / f"{SESSION}.sent.epoch"
    assert epoch.read_text() == "2\n"


# --------------------------------------------------------------------------- one network


async def test_a_connection_replaced_from_another_process_is_closed_and_may_not_act(
    boot: Boot,
) -> None:
    """Two processes share the ledger directory: the session's newest connection is the
    one the network talks to, as WhatsApp keeps one connection per device."""
    first = boot()
    old = await first.start(lease_token=1)
    second = boot()  # another worker took the session over, with the saved login
    new = await second.start(credentials=first.credentials(), lease_token=2)

    await new.send(outgoing("3EB0A"))  # the newest connection acts freely
    with pytest.raises(ConnectionGone):
        await old.keepalive()  # a keepalive is answered with the close, not a conflict
    assert [e.code for e in first.events.of(Disconnected)] == [440]
    assert read_lines(first.ledger_dir / f"{SESSION}.conflicts.jsonl") == []

    again = boot()  # a third process whose old connection still thinks it is up
    stale = await again.start(credentials=first.credentials(), lease_token=3)
    await second.start(credentials=first.credentials(), lease_token=4)
    with pytest.raises(ConnectionGone):
        await stale.send(outgoing("3EB0B"))  # acting on a replaced connection: a conflict
    conflicts = read_lines(first.ledger_dir / f"{SESSION}.conflicts.jsonl")
    assert [(c["conn"], c["what"]) for c in conflicts] == [(stale.conn, "send")]
    assert "3EB0B" not in {r.wa_message_id for r in second.network.sent(SESSION)}


async def test_a_connection_with_an_older_fencing_token_is_a_conflict(boot: Boot) -> None:
    first = boot()
    await first.start(lease_token=5)
    late = boot()  # a worker that lost the session connects it again
    await late.start(credentials=first.credentials(), lease_token=4)
    conflicts = read_lines(first.ledger_dir / f"{SESSION}.conflicts.jsonl")
    assert [(c["what"], c["token"], c["highest"]) for c in conflicts] == [("stale_open", 4, 5)]
    opens = read_lines(first.ledger_dir / f"{SESSION}.links.jsonl")
    assert [o["token"] for o in opens] == [5, 4]
