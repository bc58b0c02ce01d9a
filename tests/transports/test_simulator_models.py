"""The control-route bodies and the session config refuse what makes no sense, clearly."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from wagate.domain import InvalidRequest, PresenceState
from wagate.transports.simulator import (
    SimulatorCall,
    SimulatorDisconnect,
    SimulatorInbound,
    SimulatorPair,
    SimulatorPresence,
    validate_simulator_config,
)

FROM = {"from": "5511988887777"}


def test_a_minimal_body_is_a_text_from_a_phone() -> None:
    body = SimulatorInbound.model_validate({"from": "+55 (11) 98888-7777", "text": "oi"})
    assert (body.from_, body.type, body.text, body.from_me) == (
        "5511988887777",
        "text",
        "oi",
        False,
    )
    assert body.partner == "5511988887777"


def test_groups_and_lids_are_normalized() -> None:
    body = SimulatorInbound.model_validate(
        {**FROM, "text": "x", "group": "120363025555555555", "lid": "987654321012345@lid"}
    )
    assert body.group == "120363025555555555@g.us"
    assert body.lid == "987654321012345"
    legacy = SimulatorInbound.model_validate(
        {**FROM, "text": "x", "group": "5511988887777-1600000000@g.us"}
    )
    assert legacy.group == "5511988887777-1600000000@g.us"


def test_from_me_may_name_the_partner_with_to() -> None:
    body = SimulatorInbound.model_validate({"to": "5511977776666", "from_me": True, "text": "x"})
    assert body.partner == "5511977776666"
    assert body.from_ is None


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"text": "x"}, "'from' is required"),
        ({"from": "123", "text": "x"}, "has 3 digits"),
        ({**FROM}, "non-empty 'text'"),
        ({**FROM, "text": "   "}, "non-empty 'text'"),
        ({**FROM, "type": "image"}, "needs 'media'"),
        ({**FROM, "type": "voice", "text": "x"}, "needs 'media'"),
        ({**FROM, "text": "x", "media": {"size": 1}}, "does not belong"),
        ({**FROM, "type": "location"}, "needs 'location'"),
        ({**FROM, "type": "location", "location": {"latitude": 91, "longitude": 0}}, "latitude"),
        ({**FROM, "type": "contacts", "contacts": []}, "contacts"),
        ({**FROM, "type": "reaction"}, "needs 'reaction'"),
        ({**FROM, "type": "edit", "text": "x"}, "needs 'message_id'"),
        ({**FROM, "type": "edit", "message_id": "3A1"}, "needs 'message_id'"),
        ({**FROM, "type": "revoke"}, "needs 'message_id'"),
        ({**FROM, "text": "x", "message_id": "3A1"}, "target of an edit, revoke or poll_vote"),
        ({**FROM, "type": "poll_vote", "message_id": "3A1"}, "poll_vote needs 'message_id'"),
        ({**FROM, "text": "x", "options": ["A"]}, "'options' belong in a poll_vote"),
        ({**FROM, "type": "interactive"}, "interactive"),
        ({**FROM, "type": "poll"}, "type"),
        ({**FROM, "text": "x", "hide_phone": True}, "hide_phone needs 'lid'"),
        ({**FROM, "text": "x", "lid": "12ab"}, "lid"),
        ({**FROM, "text": "x", "to": "5511977776666"}, "'to' names the chat partner"),
        ({**FROM, "text": "x", "group": "family"}, "not a group id"),
        ({**FROM, "text": "x", "colour": "red"}, "Extra inputs are not permitted"),
        ({**FROM, "text": "x", "id": "has space"}, "id"),
        ({**FROM, "type": "image", "media": {"base64": "not base64!"}}, "not valid base64"),
        ({**FROM, "type": "image", "media": {"base64": "AAAA", "size": 5}}, "holds 3 bytes"),
        ({**FROM, "type": "image", "media": {"size": -1}}, "size"),
    ],
)
def test_nonsense_is_refused(body: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        SimulatorInbound.model_validate(body)


def test_naive_timestamps_are_utc() -> None:
    body = SimulatorInbound.model_validate(
        {**FROM, "text": "x", "timestamp": "2026-01-01T10:00:00"}
    )
    assert body.timestamp is not None
    assert body.timestamp.isoformat() == "2026-01-01T10:00:00+00:00"


def test_the_small_bodies() -> None:
    presence = SimulatorPresence.model_validate({**FROM, "state": "recording"})
    assert presence.presence is PresenceState.RECORDING
    assert SimulatorCall.model_validate(FROM).video is False
    assert SimulatorPair.model_validate({"code": "ABCD-EFGH"}).code == "ABCD-EFGH"
    assert SimulatorDisconnect.model_validate({"code": 428}).code == 428
    with pytest.raises(ValidationError):
        SimulatorDisconnect.model_validate({"code": 99})
    with pytest.raises(ValidationError):
        SimulatorPresence.model_validate({**FROM, "state": "dancing"})


def test_session_config_is_normalized() -> None:
    config = {
        "phone": "+55 11 90000-0001",
        "push_name": "Loja",
        "contacts": [{"phone": "+55 11 90000-0002", "name": "Caixa"}],
        "delivery_delay_ms": 0,
        "auto_read": False,
    }
    assert validate_simulator_config(config) == {
        "phone": "5511900000001",
        "push_name": "Loja",
        "contacts": [{"phone": "5511900000002", "name": "Caixa"}],
        "delivery_delay_ms": 0,
        "auto_read": False,
    }
    assert validate_simulator_config({}) == {}
    assert validate_simulator_config({"contacts": 3}) == {"contacts": 3}


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({"phone": "12"}, "phone: "),
        ({"read_delay_ms": -1}, "read_delay_ms"),
        ({"played_delay_ms": 10**9}, "played_delay_ms"),
        ({"auto_read": "sometimes"}, "auto_read"),
        ({"contacts": [{"phone": "5511900000002"}]}, "contacts.list.0.name: Field required"),
        ({"contacts": 1000}, "contacts.count: Input should be less than or equal to 100"),
        ({"contacts": True}, "contacts.count"),
        ({"auto_read": 1}, "auto_read: Input should be a valid boolean"),
        ({"qr_ttl_s": 5}, "qr_ttl_s: Extra inputs are not permitted"),
    ],
)
def test_bad_session_config_is_an_invalid_request(config: dict[str, Any], complaint: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        validate_simulator_config(config)
    assert refused.value.code == "invalid_config"
    assert refused.value.status_code == 422
    assert refused.value.message.startswith("invalid simulator config: ")
    assert complaint in refused.value.message
