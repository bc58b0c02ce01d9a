from __future__ import annotations

import pytest

from wagate.domain import InvalidDestination, normalize_destination, phone_of, split_jid


@pytest.mark.parametrize(
    ("raw", "jid"),
    [
        ("5511999999999", "5511999999999@s.whatsapp.net"),
        ("+5511999999999", "5511999999999@s.whatsapp.net"),
        ("+55 11 99999-9999", "5511999999999@s.whatsapp.net"),
        ("+55 (11) 99999-9999", "5511999999999@s.whatsapp.net"),
        ("  +1 (415) 555.0100 ", "14155550100@s.whatsapp.net"),
        ("5511999999999@s.whatsapp.net", "5511999999999@s.whatsapp.net"),
        ("5511999999999@c.us", "5511999999999@s.whatsapp.net"),
        ("120363012345678901@g.us", "120363012345678901@g.us"),
        ("120363012345678901", "120363012345678901@g.us"),
        ("5511999999999-1612345678", "5511999999999-1612345678@g.us"),
        ("5511999999999-1612345678@g.us", "5511999999999-1612345678@g.us"),
        ("123456789012345@lid", "123456789012345@lid"),
    ],
)
def test_destinations(raw: str, jid: str) -> None:
    assert normalize_destination(raw) == jid


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "  ",
        "abc",
        "12345",
        "1234567890123456",
        "+55 11 abc",
        "x@s.whatsapp.net",
        "5511999999999@example.com",
        "abc@g.us",
        "abc@lid",
        "55+11999999999",
        "@g.us",
    ],
)
def test_rejected_destinations(raw: str) -> None:
    with pytest.raises(InvalidDestination) as info:
        normalize_destination(raw)
    assert info.value.code == "invalid_destination"
    assert info.value.status_code == 422


def test_jid_parts() -> None:
    assert split_jid("5511999999999:12@s.whatsapp.net") == ("5511999999999", "s.whatsapp.net")
    assert phone_of("5511999999999@s.whatsapp.net") == "5511999999999"
    assert phone_of("123@lid") is None
    assert phone_of("120363012345678901@g.us") is None
    assert phone_of(None) is None
