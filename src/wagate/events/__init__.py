"""The event log's readers: in-process notifications (webhook delivery arrives in a later issue)."""

from wagate.events.bus import EventBus

__all__ = ["EventBus"]
