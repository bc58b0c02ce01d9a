"""The wire builder on golden files (tests/data/simulator/wire/*.json): request body -> payload."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wagate.domain import InboundMessage
from wagate.transports.simulator import SimulatorConfig, SimulatorInbound, SimulatorSettings
from wagate.transports.simulator.normalize import normalize_simulator_payload
from wagate.transports.simulator.phone import VirtualPhone
from wagate.transports.simulator.wire import build_wire_payload

GOLDEN = Path(__file__).parent.parent / "data" / "simulator" / "wire"
CASES = sorted(GOLDEN.glob("*.json"))
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
OWN = "5581992402384"


def _phone() -> VirtualPhone:
    config = SimulatorConfig.model_validate(
        {
            "phone": OWN,
            "push_name": "Loja",
            "contacts": [{"phone": "5511988887777", "name": "Ana Silva", "lid": "987654321012345"}],
        }
    )
    return VirtualPhone("ses_golden", 0, SimulatorSettings(), config)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_there_are_golden_requests() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_request(path: Path) -> None:
    case = _load(path)
    request = SimulatorInbound.model_validate(case["request"])

    payload = build_wire_payload(request, _phone(), case["request"]["id"], NOW)

    assert payload == case["expected"]
    json.dumps(payload)  # the wire is plain JSON
    normalized = normalize_simulator_payload(payload, OWN)  # and the normalizer reads it all
    if isinstance(normalized, InboundMessage):
        assert (normalized.type == "unsupported") == (request.type == "unsupported")


def test_generated_media_is_deterministic_per_message() -> None:
    body = SimulatorInbound.model_validate(
        {"from": "5511988887777", "type": "document", "media": {"size": 3000}}
    )
    first = build_wire_payload(body, _phone(), "3A01", NOW)["message"]["document"]
    again = build_wire_payload(body, _phone(), "3A01", NOW)["message"]["document"]
    other = build_wire_payload(body, _phone(), "3A02", NOW)["message"]["document"]

    data = base64.b64decode(first["data"])
    assert len(data) == first["size"] == 3000
    assert first["sha256"] == hashlib.sha256(data).hexdigest()
    assert first == again
    assert other["data"] != first["data"]
    default = SimulatorInbound.model_validate(
        {"from": "5511988887777", "type": "image", "media": {}}
    )
    assert build_wire_payload(default, _phone(), "3A03", NOW)["message"]["image"]["size"] == 1024
