"""The value encodings of Evolution's JSON: 64-bit numbers and bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from wagate.transports.evolution.codecs import hex_digest, parse_iso, to_bytes, to_datetime, to_int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1767614340, 1767614340),
        ("1767614340", 1767614340),
        (1767614340.0, 1767614340),
        ({"low": 1767614340, "high": 0, "unsigned": False}, 1767614340),
        ({"low": 0, "high": 1, "unsigned": True}, 1 << 32),
        ({"low": -1, "high": -1, "unsigned": False}, -1),
        ({"low": -1, "high": -1, "unsigned": True}, (1 << 64) - 1),
        ("12a", None),
        (True, None),
        (None, None),
        ({"low": "x"}, None),
        (1.5, None),
    ],
)
def test_to_int(value: Any, expected: int | None) -> None:
    assert to_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AQID", b"\x01\x02\x03"),
        ({"0": 1, "1": 2, "2": 3}, b"\x01\x02\x03"),
        ({"2": 3, "0": 1, "1": 2}, b"\x01\x02\x03"),
        ({"type": "Buffer", "data": [1, 2, 3]}, b"\x01\x02\x03"),
        ([1, 2, 3], b"\x01\x02\x03"),
        ({"0": 1, "2": 3}, None),  # a gap: not a byte array
        ({"0": 300}, None),
        ("not base64!", None),
        (12, None),
    ],
)
def test_to_bytes(value: Any, expected: bytes | None) -> None:
    assert to_bytes(value) == expected


def test_hex_digest() -> None:
    assert hex_digest({"0": 171, "1": 205}) == "abcd"
    assert hex_digest(None) is None


def test_to_datetime_seconds_millis_and_junk() -> None:
    at = datetime(2026, 1, 5, 11, 59, tzinfo=UTC)
    assert to_datetime(1767614340) == at
    assert to_datetime("1767614340000") == at
    assert to_datetime(1767614340000, millis=True) == at
    assert to_datetime({"low": 1, "high": 0}, millis=True) is None
    assert to_datetime(0) is None
    assert to_datetime(10**15 * 1000) is None


def test_parse_iso() -> None:
    assert parse_iso("2026-01-05T11:59:00.000Z") == datetime(2026, 1, 5, 11, 59, tzinfo=UTC)
    assert parse_iso("2026-01-05T11:59:00") == datetime(2026, 1, 5, 11, 59, tzinfo=UTC)
    assert parse_iso("yesterday") is None
