"""Page cursors as the API gives them out: a row's sequence number, in decimal."""

from __future__ import annotations

import re

from wagate.domain import InvalidRequest

_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII digits only: str.isdigit() takes "²" and "٣"
MAX_SEQ = 2**63 - 1  # a BIGINT


def parse_cursor(value: str | None, name: str = "cursor") -> int | None:
    """The sequence number in ``value`` (None when absent or empty); 422 ``invalid_cursor``
    for anything this API cannot have given out."""
    if value is None or value == "":
        return None
    if not _DIGITS.fullmatch(value) or int(value) > MAX_SEQ:
        raise InvalidRequest(f"{name} is not a cursor this API gave out", code="invalid_cursor")
    return int(value)
