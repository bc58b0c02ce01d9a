"""What a wagate message looks like in a Chatwoot conversation: its text (locations,
contact cards and polls written out, a group member's name in front) and whether it has
a file to attach."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wagate.domain import MEDIA_TYPES

SKIPPED = frozenset({"reaction", "edit", "revoke", "unsupported"})  # nothing to show


def shown(message: Mapping[str, Any]) -> bool:
    """Whether the message has anything a Chatwoot conversation can show."""
    return str(message.get("type")) not in SKIPPED and message.get("chat_type") != "status"


def has_file(message: Mapping[str, Any]) -> bool:
    media = message.get("media") or {}
    return str(message.get("type")) in MEDIA_TYPES and bool(media.get("url"))


def text_of(message: Mapping[str, Any]) -> str | None:
    """The message's words for Chatwoot (None: a file with no caption)."""
    kind = str(message.get("type"))
    text = message.get("text")
    if kind == "location":
        where = message.get("location") or {}
        lat, lng = where.get("latitude"), where.get("longitude")
        lines = [f"📍 {where.get('name') or 'Location'}", where.get("address")]
        lines.append(f"https://maps.google.com/?q={lat},{lng}")
        text = "\n".join(line for line in lines if line)
    elif kind in ("contact", "contacts"):
        cards = message.get("contacts") or []
        text = "\n".join(f"👤 {card.get('name')}: +{card.get('phone')}" for card in cards)
    elif kind == "poll":
        poll = message.get("poll") or {}
        options = "\n".join(f"- {option}" for option in poll.get("options") or [])
        text = f"📊 {poll.get('name')}\n{options}"
    if message.get("chat_type") == "group" and not message.get("from_me"):
        who = message.get("push_name") or message.get("sender_phone") or message.get("sender")
        text = f"**{who}**:\n{text}" if text else f"**{who}**:"
    return text or None


def file_name(message: Mapping[str, Any]) -> str:
    media = message.get("media") or {}
    if media.get("file_name"):
        return str(media["file_name"])
    mime = str(media.get("mime_type") or "application/octet-stream").split(";")[0]
    extension = mime.split("/")[-1] if "/" in mime else "bin"
    return f"{message.get('type')}.{extension}"
