"""The simulator normalizer on golden payloads (tests/data/simulator/*.json).

Each file holds a wire payload and what it must become: ``expected`` (an
inbound message, an edit, a revoke, or the ``ValueError`` it must raise),
``identity`` (the phone/@lid pair it reveals, or null) and ``media`` (the
inline bytes, or null). Expectations are written by hand.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from wagate.domain import InboundMessage, MessageEdit, MessageRevoke
from wagate.transports.simulator import learned_identity, media_of, normalize_simulator_payload

GOLDEN = Path(__file__).parent.parent / "data" / "simulator"
CASES = sorted(GOLDEN.glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _as_json(result: InboundMessage | MessageEdit | MessageRevoke) -> dict[str, Any]:
    if isinstance(result, InboundMessage):
        return result.model_dump(mode="json")
    fields = dataclasses.asdict(result)
    fields["timestamp"] = result.timestamp.isoformat().replace("+00:00", "Z")
    return fields


def test_there_are_golden_payloads() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_payload(path: Path) -> None:
    case = _load(path)
    payload, expected = case["payload"], case["expected"]

    if expected["kind"] == "error":
        with pytest.raises(ValueError, match=expected["match"]):
            normalize_simulator_payload(payload, case["own_phone"])
        assert learned_identity(payload) is None
        return

    result = normalize_simulator_payload(payload, case["own_phone"])

    kinds = {"message": InboundMessage, "edit": MessageEdit, "revoke": MessageRevoke}
    assert isinstance(result, kinds[expected["kind"]])
    assert _as_json(result) == expected["value"]
    if isinstance(result, InboundMessage):
        assert result.raw == payload  # kept for the dead-letter table and debugging

    identity = learned_identity(payload)
    assert (dataclasses.asdict(identity) if identity else None) == case["identity"]

    media = media_of(payload)
    if case["media"] is None:
        assert media is None
    else:
        assert media is not None
        assert base64.b64encode(media.data).decode() == case["media"]["data_base64"]
        assert (media.mime_type, media.file_name) == (
            case["media"]["mime_type"],
            case["media"]["file_name"],
        )


def test_the_normalizer_does_not_touch_its_input() -> None:
    payload = _load(GOLDEN / "image.json")["payload"]
    before = json.dumps(payload, sort_keys=True)
    normalize_simulator_payload(payload, "5581992402384")
    media_of(payload)
    learned_identity(payload)
    assert json.dumps(payload, sort_keys=True) == before


@pytest.mark.parametrize(
    "message",
    [None, [], "text", {"context": {"quoted_id": "3A1"}}, {"text": "not an object"}],
    ids=["null", "list", "string", "only-context", "kind-not-an-object"],
)
def test_odd_message_shapes_are_unsupported(message: object) -> None:
    payload = _load(GOLDEN / "text.json")["payload"] | {"message": message}
    result = normalize_simulator_payload(payload, "5581992402384")
    assert isinstance(result, InboundMessage)
    assert result.type == "unsupported"
    assert media_of(payload) is None
