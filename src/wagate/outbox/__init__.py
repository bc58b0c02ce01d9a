"""The outbound path: accept into the database, then per-session senders transmit."""

from wagate.outbox.accept import AcceptSettings, OutboundAcceptor
from wagate.outbox.media import MediaLoader
from wagate.outbox.sender import Outbox, SenderSettings

__all__ = ["AcceptSettings", "MediaLoader", "OutboundAcceptor", "Outbox", "SenderSettings"]
