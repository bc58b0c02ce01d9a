"""Chatwoot, as Evolution offers it: a session's chats mirrored into a Chatwoot inbox, and
agents' replies there sent on WhatsApp (pausing the assistant)."""

from wagate.engine.chatwoot.api import ChatwootError, ChatwootUnavailable, http_client
from wagate.engine.chatwoot.bridge import ChatwootBridge
from wagate.engine.chatwoot.service import ChatwootLinks, LinkRequest, link_json

__all__ = [
    "ChatwootBridge",
    "ChatwootError",
    "ChatwootLinks",
    "ChatwootUnavailable",
    "LinkRequest",
    "http_client",
    "link_json",
]
