"""The simulator is reproducible: the same seed gives the same phones, codes and ids."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.transports.conftest import CONTACT, EventLog, inbound
from wagate.domain import FakeClock, QrUpdated
from wagate.transports.base import TransportContext
from wagate.transports.simulator import SimulatorNetwork, VirtualContact


async def _run(seed: int, tmp_path: Path, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Drive a fresh network through a login and a few messages; what an observer sees."""
    clock = FakeClock()
    network = SimulatorNetwork(clock, seed=seed)
    log = EventLog()
    outcome: dict[str, Any] = {}
    for session_id in ("ses_a", "ses_b"):
        context = TransportContext(session_id, session_id, config or {}, None, tmp_path, clock, log)
        transport = network.create_transport(context)
        await transport.connect()
        await clock.advance(60)
        outcome[f"{session_id}:pairing"] = await transport.request_pairing_code("5521999990000")
        await network.scan(session_id)
        outcome[f"{session_id}:phone"] = network.phone(session_id)
        outcome[f"{session_id}:ids"] = [
            await network.inbound(session_id, inbound(sender=CONTACT, text=str(i)))
            for i in range(3)
        ]
        await transport.close()
    outcome["qrs"] = [e.qr for e in log.of(QrUpdated)]
    return outcome


async def test_the_same_seed_gives_the_same_network(tmp_path: Path) -> None:
    first, second = await _run(7, tmp_path), await _run(7, tmp_path)
    assert first == second
    assert len(set(first["qrs"])) == 4  # two codes for each of two sessions
    assert first["ses_a:phone"].number != first["ses_b:phone"].number
    assert first["ses_a:ids"] != first["ses_b:ids"]
    assert all(re.fullmatch(r"3A[0-9A-F]{18}", i) for i in first["ses_a:ids"])


async def test_another_seed_gives_another_network(tmp_path: Path) -> None:
    first, other = await _run(7, tmp_path), await _run(8, tmp_path)
    assert first["ses_a:phone"].number != other["ses_a:phone"].number
    assert first["qrs"] != other["qrs"]
    assert first["ses_a:ids"] != other["ses_a:ids"]


async def test_generated_phones_look_brazilian_and_some_contacts_have_lids(tmp_path: Path) -> None:
    phone = (await _run(7, tmp_path))["ses_a:phone"]
    assert re.fullmatch(r"55\d\d9\d{8}", phone.number)
    assert re.fullmatch(r"\d{15}@lid", phone.lid)
    assert len(phone.contacts) == 5
    assert [c.lid is not None for c in phone.contacts] == [True, False, True, False, True]
    assert all(re.fullmatch(r"55\d\d9\d{8}", c.phone) and " " in c.name for c in phone.contacts)


async def test_config_overrides_the_identity(tmp_path: Path) -> None:
    config = {
        "phone": "+55 11 90000-0001",
        "push_name": "Loja",
        "contacts": [{"phone": "5511900000002", "name": "Caixa", "lid": "123456789"}],
    }
    outcome = await _run(7, tmp_path, config)
    phone = outcome["ses_a:phone"]
    assert (phone.number, phone.push_name) == ("5511900000001", "Loja")
    assert phone.contacts == (VirtualContact("5511900000002", "Caixa", "123456789"),)
    # The identity stream is drawn the same way, so the rest stays put.
    assert phone.lid == (await _run(7, tmp_path))["ses_a:phone"].lid

    counted = await _run(7, tmp_path, {"contacts": 2})
    assert len(counted["ses_a:phone"].contacts) == 2
