"""Webhook secrets at rest: AES-256-GCM under a configured or generated key."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from wagate.config import load_settings
from wagate.domain import ConfigError
from wagate.events import SecretBox, SecretUnreadable, load_or_create_key


def test_seal_and_open() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.seal("whsec_abc", "whk_1")
    assert sealed.startswith("v1:")
    assert "whsec_abc" not in sealed
    assert box.seal("whsec_abc", "whk_1") != sealed  # a fresh nonce every time
    assert box.open(sealed, "whk_1") == "whsec_abc"


def test_a_sealed_secret_opens_only_for_its_webhook_and_key() -> None:
    key = os.urandom(32)
    sealed = SecretBox(key).seal("whsec_abc", "whk_1")
    with pytest.raises(SecretUnreadable):
        SecretBox(key).open(sealed, "whk_2")
    with pytest.raises(SecretUnreadable, match="WAGATE_WEBHOOK_SECRET_KEY"):
        SecretBox(os.urandom(32)).open(sealed, "whk_1")
    raw = bytearray(base64.b64decode(sealed[3:]))
    raw[-1] ^= 1
    with pytest.raises(SecretUnreadable):
        SecretBox(key).open("v1:" + base64.b64encode(bytes(raw)).decode(), "whk_1")
    with pytest.raises(SecretUnreadable):
        SecretBox(key).open("whsec_plain", "whk_1")


def test_key_generated_once_with_mode_0600(tmp_path: Path) -> None:
    key, created = load_or_create_key(tmp_path, None)
    assert created
    assert len(key) == 32
    path = tmp_path / "secret-key"
    assert path.stat().st_mode & 0o777 == 0o600
    again, created_again = load_or_create_key(tmp_path, None)
    assert (again, created_again) == (key, False)


def test_configured_key_wins_and_is_validated(tmp_path: Path) -> None:
    configured = os.urandom(32)
    key, created = load_or_create_key(tmp_path, base64.b64encode(configured).decode())
    assert (key, created) == (configured, False)
    assert not (tmp_path / "secret-key").exists()
    with pytest.raises(ConfigError, match="32 bytes"):
        load_or_create_key(tmp_path, base64.b64encode(b"short").decode())
    (tmp_path / "secret-key").write_text("not base64!\n")
    with pytest.raises(ConfigError, match="secret-key"):
        load_or_create_key(tmp_path, None)


def test_settings_refuse_a_bad_key_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAGATE_WEBHOOK_SECRET_KEY", "hunter2-not-a-key")
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert "WAGATE_WEBHOOK_SECRET_KEY" in caught.value.message
    assert "hunter2" not in caught.value.message
    good = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("WAGATE_WEBHOOK_SECRET_KEY", good)
    settings = load_settings(_env_file=None)
    assert settings.webhook_secret_key is not None
    assert settings.webhook_secret_key.get_secret_value() == good
