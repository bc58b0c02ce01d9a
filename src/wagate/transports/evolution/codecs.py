"""Decoding the value encodings Evolution's JSON carries for protobuf fields. Pure functions.

Evolution serializes Baileys' protobuf objects with ``JSON.stringify``, and what
comes out depends on the version and on where the object came from (live
socket, database, history sync):

* 64-bit numbers (``messageTimestamp``, ``fileLength``) arrive as JSON numbers,
  as decimal strings, or as ``long.js`` objects ``{"low": n, "high": n, "unsigned": b}``;
* byte fields (``fileSha256``, ``mediaKey``, ``jpegThumbnail``) arrive as base64
  strings, as a ``Uint8Array`` dumped to ``{"0": n, "1": n, ...}``, or as a Node
  ``Buffer`` dumped to ``{"type": "Buffer", "data": [n, ...]}``.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

_DECIMAL = re.compile(r"-?\d+")
_MIN_TIMESTAMP_S = 1230768000  # 2009-01-01, before WhatsApp
_MAX_TIMESTAMP_S = 253402300799  # 9999-12-31
_MS_THRESHOLD = 100_000_000_000  # above this a "seconds" value is really milliseconds


def to_int(value: Any) -> int | None:
    """A 64-bit number in any of Evolution's encodings, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        return int(text) if _DECIMAL.fullmatch(text) else None
    if isinstance(value, dict) and "low" in value:
        low, high = value.get("low"), value.get("high", 0)
        if not isinstance(low, int) or not isinstance(high, int):
            return None
        if isinstance(low, bool) or isinstance(high, bool):
            return None
        combined = (high & 0xFFFFFFFF) << 32 | (low & 0xFFFFFFFF)
        if not value.get("unsigned") and combined >= 1 << 63:
            combined -= 1 << 64
        return combined
    return None


def to_bytes(value: Any) -> bytes | None:
    """Bytes in any of Evolution's encodings, or None when the value is not bytes."""
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
    if isinstance(value, list):
        return _byte_list(value)
    if isinstance(value, dict):
        if value.get("type") == "Buffer" and isinstance(value.get("data"), list):
            return _byte_list(value["data"])
        if value and all(isinstance(k, str) and k.isdigit() for k in value):
            ordered = [value[k] for k in sorted(value, key=int)]
            if [int(k) for k in sorted(value, key=int)] != list(range(len(ordered))):
                return None
            return _byte_list(ordered)
    return None


def _byte_list(items: list[Any]) -> bytes | None:
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 255 for n in items):
        return None
    return bytes(items)


def hex_digest(value: Any) -> str | None:
    """A hash field (``fileSha256``) as lowercase hex, whatever its encoding."""
    data = to_bytes(value)
    return data.hex() if data else None


def to_datetime(value: Any, *, millis: bool = False) -> datetime | None:
    """A WhatsApp timestamp as a UTC datetime; None when absent or implausible.

    Seconds, unless ``millis`` or the value is too large to be seconds. Anything
    before WhatsApp existed is junk (a zeroed ``long``), not a date.
    """
    number = to_int(value)
    if number is None or number <= 0:
        return None
    if millis or number > _MS_THRESHOLD:
        number //= 1000
    if not _MIN_TIMESTAMP_S <= number <= _MAX_TIMESTAMP_S:
        return None
    return datetime.fromtimestamp(number, UTC)


def parse_iso(value: Any) -> datetime | None:
    """An ISO 8601 string as a UTC datetime (naive strings are taken as UTC), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
