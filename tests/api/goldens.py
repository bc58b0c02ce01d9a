"""Golden files for payload shapes (``tests/api/golden/<kind>/<name>.json``): bodies with
the values that change from run to run (ids, times, numbers, the QR image, tokens)
replaced by ``<name>``. ``WAGATE_UPDATE_GOLDEN=1`` rewrites them from a run; review the
diff before committing it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden"
VOLATILE = {
    "id",
    "keyId",
    "messageId",
    "instanceId",
    "messageTimestamp",
    "date_time",
    "destination",
    "url",
    "code",
    "base64",
    "fileSha256",
    "stanzaId",
    "sender",  # the simulator gives each session a number of its own
    "wuid",
    "profileName",
    "apikey",
    "ownerJid",
    "createdAt",
    "updatedAt",  # the instance's token, generated at creation
}


def stable(value: Any, key: str | None = None) -> Any:
    """``value`` with what differs between runs replaced by ``<name>`` (None stays None)."""
    if isinstance(value, dict):
        return {k: stable(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [stable(v) for v in value]
    if key in VOLATILE and value is not None and not isinstance(value, bool):
        return f"<{key}>"
    return value


def check_golden(kind: str, name: str, body: dict[str, Any]) -> None:
    """``body`` (made stable) is what ``golden/<kind>/<name>.json`` holds."""
    path = GOLDEN / kind / f"{name}.json"
    got = stable(body)
    if os.environ.get("WAGATE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text()), f"{name}: {json.dumps(got, indent=2)}"
