"""Settings: validation with one clear line, and the docs table kept in sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from wagate.config import load_settings
from wagate.configdoc import render_configuration_doc
from wagate.domain import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.data_dir == Path("./data")
    assert settings.allow_private_urls is False
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path / 'data/wagate.db'}"


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("WAGATE_PORT", "abc", "WAGATE_PORT: Input should be a valid integer"),
        ("WAGATE_PORT", "70000", "WAGATE_PORT: Input should be less than or equal to 65535"),
        (
            "WAGATE_ALLOW_PRIVATE_URLS",
            "maybe",
            "WAGATE_ALLOW_PRIVATE_URLS: Input should be a valid boolean",
        ),
        ("WAGATE_DATABASE_URL", "mysql://x", "WAGATE_DATABASE_URL: expected sqlite+aiosqlite"),
        ("WAGATE_LOG_LEVEL", "loud", "WAGATE_LOG_LEVEL: Input should be"),
        ("WAGATE_API_KEY", "short-admin-key", "WAGATE_API_KEY: the admin key needs at least 32"),
        ("WAGATE_TIMEZONE", "Mars/Olympus", "WAGATE_TIMEZONE: expected an IANA time zone"),
        ("WAGATE_RECONNECT_BACKOFF_S", "[]", "WAGATE_RECONNECT_BACKOFF_S: expected a non-empty"),
        ("WAGATE_RECONNECT_BACKOFF_S", "fast", "WAGATE_RECONNECT_BACKOFF_S: expected a JSON list"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert fragment in info.value.message
    assert "\n" not in info.value.message


def test_configuration_doc_is_in_sync() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text()
    assert documented == render_configuration_doc(), (
        "docs/configuration.md is stale: run `wagate config-docs > docs/configuration.md`"
    )


def test_contract_variables_are_documented() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text()
    for variable in (
        "WAGATE_HOST",
        "WAGATE_PORT",
        "WAGATE_DATA_DIR",
        "WAGATE_DATABASE_URL",
        "WAGATE_API_KEY",
        "WAGATE_ALLOW_PRIVATE_URLS",
    ):
        assert f"`{variable}`" in documented


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({}, "WAGATE_CONTROL_PLANE_URL needs WAGATE_CONTROL_PLANE_SECRET"),
        (
            {"WAGATE_CONTROL_PLANE_SECRET": "s", "WAGATE_CONTROL_PLANE_LOCK_TTL_S": "5"},
            "WAGATE_CONTROL_PLANE_LOCK_TTL_S must be longer than WAGATE_LEASE_TTL_S / 3",
        ),
    ],
)
def test_a_control_plane_needs_its_secret_and_a_lock_ttl_its_renewals_keep(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, extra: dict[str, str], fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WAGATE_CONTROL_PLANE_URL", "http://127.0.0.1:9/worker-proxy")
    monkeypatch.setenv("WAGATE_LEASE_TTL_S", "30")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert fragment in str(refused.value)
