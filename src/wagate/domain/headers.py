"""Extra HTTP headers an operator adds to a webhook's requests (an API gateway's key,
a tenant marker for the receiver): what is allowed.

Names are HTTP tokens; values are one line of visible text. The headers that carry
the request itself or its Standard Webhooks signature cannot be set: a receiver must
be able to trust ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` as
wagate made them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_HEADERS = 20
MAX_VALUE = 1024
RESERVED = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)
_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
_VALUE = re.compile(r"^[\x20-\x7e\t]*$")


def check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers as given, or ValueError naming what is wrong."""
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    seen: set[str] = set()
    for name, value in headers.items():
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a header name")
        lowered = name.lower()
        if lowered in RESERVED:
            raise ValueError(f"{name!r} is set by wagate and cannot be replaced")
        if lowered in seen:
            raise ValueError(f"{name!r} is given twice")
        seen.add(lowered)
        if not isinstance(value, str) or len(value) > MAX_VALUE or not _VALUE.match(value):
            raise ValueError(
                f"the value of {name!r} must be one line of printable ASCII, "
                f"at most {MAX_VALUE} characters"
            )
    return dict(headers)
