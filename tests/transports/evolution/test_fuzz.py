"""The normalizer never raises: every golden payload, bent in many ways, yields events."""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wagate.transports.evolution import normalize_evolution_payload

PAYLOADS = sorted((Path(__file__).parent / "payloads").glob("*.json"))
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ODD_VALUES: list[Any] = [None, "", "x", 0, -1, 1.5, True, [], {}, [1, "a"], {"low": "x"}, "@lid"]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replace(payload: Any, path: tuple[Any, ...], value: Any) -> None:
    target = payload
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


@pytest.mark.parametrize("path", PAYLOADS, ids=[p.stem for p in PAYLOADS])
def test_bent_payloads_never_raise(path: Path) -> None:
    original = json.loads(path.read_text())
    rng = random.Random(path.stem)
    paths = _paths(original)
    for _ in range(60):
        payload = copy.deepcopy(original)
        for where in rng.sample(paths, k=min(len(paths), rng.randint(1, 3))):
            try:
                _replace(payload, where, rng.choice(ODD_VALUES))
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change removed the container
        result = normalize_evolution_payload(payload, received_at=NOW, own_phone="5511900000000")
        assert isinstance(result.events, list)
