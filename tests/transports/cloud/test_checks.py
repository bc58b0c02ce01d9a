"""Pure parts of the cloud transport: config validation, the error table, webhook checks."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from wagate.domain import InvalidRequest, PermanentSendError, TransientSendError
from wagate.transports.cloud import (
    GRAPH_ERRORS,
    rule_for,
    validate_cloud_config,
    verify_challenge,
    verify_signature,
)
from wagate.transports.cloud.errors import close_code_for, send_error

GOOD = {
    "phone_number_id": "106540352242922",
    "access_token": "EAAsecret-token-value",
    "app_secret": "app-secret-value",
    "verify_token": "verify-token-value",
}


def test_a_good_config_is_kept_as_given() -> None:
    assert validate_cloud_config(dict(GOOD)) == GOOD


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone_number_id": "+1 555 0100"}, "phone_number_id"),
        ({"access_token": ""}, "access_token"),
        ({"app_secret": None}, "app_secret"),
        ({"verify_token": "short"}, "verify_token"),
        ({"graph_url": "http://evil.example"}, "graph_url"),
    ],
)
def test_a_bad_config_names_the_field_without_echoing_it(
    change: dict[str, object], field: str
) -> None:
    config = {**GOOD, **change}
    with pytest.raises(InvalidRequest) as raised:
        validate_cloud_config(config)
    assert raised.value.code == "invalid_config"
    assert field in raised.value.message
    assert "EAAsecret" not in raised.value.message


def test_missing_keys_are_all_named() -> None:
    with pytest.raises(InvalidRequest) as raised:
        validate_cloud_config({})
    for field in GOOD:
        assert field in raised.value.message


@pytest.mark.parametrize(
    ("code", "wagate_code", "transient"),
    [
        (131047, "reengagement_window_closed", False),
        (131026, "undeliverable", False),
        (130429, "rate_limited", True),
        (131056, "pair_rate_limited", True),
        (190, "token_invalid", True),
    ],
)
def test_the_issue_codes_are_in_the_table(code: int, wagate_code: str, transient: bool) -> None:
    rule = GRAPH_ERRORS[code]
    assert rule.code == wagate_code
    assert rule.transient is transient


def test_unknown_codes_go_by_http_status() -> None:
    assert rule_for(None, 503).transient
    assert rule_for(424242, 502).code == "graph_unavailable"
    assert rule_for(424242, 429).transient
    assert not rule_for(424242, 400).transient
    assert rule_for(None, 401).close_code == 401


def test_send_errors_carry_the_class_and_wait() -> None:
    transient = send_error(130429, "Rate limit hit", 400)
    assert isinstance(transient, TransientSendError)
    assert transient.retry_after == 10.0
    permanent = send_error(131047, "Re-engagement message", 400)
    assert isinstance(permanent, PermanentSendError)
    assert "131047" in permanent.message


@pytest.mark.parametrize(
    ("code", "status", "close"),
    [(190, 401, 401), (10, 403, 401), (131031, 400, 403), (1, 500, 503), (100, 400, 500)],
)
def test_connect_failures_use_the_close_code_policy(code: int, status: int, close: int) -> None:
    assert close_code_for(code, status) == close


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"entry": []}'
    good = "sha256=" + hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    assert verify_signature(body, good, "app-secret")
    assert verify_signature(body, good.upper().replace("SHA256=", "sha256="), "app-secret")
    assert not verify_signature(body + b" ", good, "app-secret")
    assert not verify_signature(body, good, "another-secret")
    assert not verify_signature(body, good.removeprefix("sha256="), "app-secret")
    assert not verify_signature(body, None, "app-secret")


def test_challenge_needs_subscribe_and_a_known_token() -> None:
    tokens = ["first-token", "second-token"]
    assert verify_challenge("subscribe", "second-token", tokens)
    assert not verify_challenge("subscribe", "third-token", tokens)
    assert not verify_challenge("unsubscribe", "first-token", tokens)
    assert not verify_challenge("subscribe", "", tokens)
    assert not verify_challenge("subscribe", "first-token", [])
