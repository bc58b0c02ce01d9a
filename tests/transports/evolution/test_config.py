"""An evolution session's config: required keys, URL safety."""

from __future__ import annotations

from typing import Any

import pytest

from wagate.domain import InvalidRequest, UnsafeUrl
from wagate.transports.evolution import validate_evolution_config

GOOD = {"base_url": "https://evo.example.com/", "api_key": "k"}


def test_minimal_config_is_normalized() -> None:
    assert validate_evolution_config(GOOD) == {
        "base_url": "https://evo.example.com",
        "api_key": "k",
    }


def test_instance_is_kept() -> None:
    assert validate_evolution_config(GOOD | {"instance": "sales"})["instance"] == "sales"


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({}, "base_url: Field required; api_key: Field required"),
        ({"base_url": "https://evo.example.com"}, "api_key"),
        (GOOD | {"base_url": "ftp://evo.example.com"}, "base_url"),
        (GOOD | {"base_url": "evo.example.com"}, "base_url"),
        (GOOD | {"api_key": ""}, "api_key"),
        (GOOD | {"instance": "a/b"}, "instance"),
        (GOOD | {"colour": "blue"}, "colour"),
    ],
)
def test_bad_config_is_422_invalid_config(config: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_evolution_config(config)
    assert caught.value.code == "invalid_config"
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:8080", "http://10.0.0.5", "http://[::1]:80"]
)
def test_private_base_url_needs_the_setting(url: str) -> None:
    with pytest.raises(UnsafeUrl) as caught:
        validate_evolution_config(GOOD | {"base_url": url})
    assert "WAGATE_ALLOW_PRIVATE_URLS" in caught.value.message
    assert validate_evolution_config(GOOD | {"base_url": url}, allow_private_urls=True)
