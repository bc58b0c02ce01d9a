"""WhatsApp engines behind one small interface (see ``base.Transport``)."""

from wagate.transports.base import Capabilities, EventSink, Transport, TransportContext
from wagate.transports.registry import KNOWN_TRANSPORTS, TransportRegistry

__all__ = [
    "KNOWN_TRANSPORTS",
    "Capabilities",
    "EventSink",
    "Transport",
    "TransportContext",
    "TransportRegistry",
]
