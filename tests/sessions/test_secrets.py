"""Engine secrets in session configs are sealed at rest and open only for their session."""

from __future__ import annotations

import os

import pytest

from wagate.sessions import ConfigSecrets
from wagate.store.crypto import SecretBox, SecretUnreadable
from wagate.transports import TransportRegistry
from wagate.transports.base import Capabilities


def _secrets() -> ConfigSecrets:
    registry = TransportRegistry()
    registry.register(
        "cloud",
        lambda context: None,  # type: ignore[arg-type,return-value]
        Capabilities(),
        secret_fields=frozenset({"access_token", "app_secret"}),
    )
    return ConfigSecrets(SecretBox(os.urandom(32)), registry)


def test_secret_fields_are_sealed_and_others_kept() -> None:
    secrets = _secrets()
    config = {"phone_number_id": "123", "access_token": "EAAG-token", "app_secret": "s3cret"}
    sealed = secrets.seal("cloud", "ses_1", config)
    assert sealed["phone_number_id"] == "123"
    assert sealed["access_token"].startswith("v1:")
    assert "EAAG" not in sealed["access_token"]
    assert sealed["app_secret"].startswith("v1:")
    assert secrets.open("cloud", "ses_1", sealed) == config


def test_a_sealed_config_does_not_open_for_another_session() -> None:
    secrets = _secrets()
    sealed = secrets.seal("cloud", "ses_1", {"access_token": "EAAG-token"})
    with pytest.raises(SecretUnreadable):
        secrets.open("cloud", "ses_2", sealed)


def test_transports_without_secret_fields_pass_through() -> None:
    secrets = _secrets()
    config = {"contacts": 3}
    assert secrets.seal("simulator", "ses_1", config) == config
