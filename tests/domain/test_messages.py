from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from wagate.domain import OutboundMessageRequest


@pytest.mark.parametrize(
    "body",
    [
        {"to": "1", "type": "text", "text": "hi"},
        {"to": "1", "type": "image", "media": {"url": "http://x/y.png"}},
        {"to": "1", "type": "voice", "media": {"base64": "AAAA"}},
        {"to": "1", "type": "location", "location": {"latitude": 0, "longitude": 0}},
        {"to": "1", "type": "contact", "contact": {"name": "A", "phone": "1"}},
        {"to": "1", "type": "reaction", "reaction": {"message_id": "x", "emoji": ""}},
    ],
)
def test_valid_outbound(body: dict[str, Any]) -> None:
    assert OutboundMessageRequest.model_validate(body).to == "1"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"to": "1", "type": "text"}, "non-empty 'text'"),
        ({"to": "1", "type": "video"}, "needs 'media'"),
        ({"to": "1", "type": "location"}, "needs 'location'"),
        ({"to": "1", "type": "contact"}, "needs 'contact'"),
        ({"to": "1", "type": "reaction"}, "needs 'reaction'"),
        ({"to": "1", "type": "interactive", "text": "x"}, "cannot be sent"),
        ({"to": "1", "type": "image", "media": {}}, "exactly one"),
        ({"to": "1", "text": "x", "extra": 1}, "Extra inputs"),
    ],
)
def test_invalid_outbound(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        OutboundMessageRequest.model_validate(body)
