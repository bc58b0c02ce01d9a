"""The event log's readers: webhook delivery, the live stream, in-process wake-ups.

- ``bus.py``: wake-ups after every commit of events in this process;
- ``horizon.py``: how far the log can be read without skipping a late commit;
- ``crypto.py``: webhook secrets sealed at rest (AES-256-GCM);
- ``signing.py``: delivery bodies and their Standard Webhooks signatures;
- ``client.py``: the aiohttp client for URLs tenants give (webhooks, brains), with the
  outgoing-request safety rules;
- ``dispatcher.py`` / ``endpoint.py`` / ``writer.py``: leases, one worker per
  endpoint, group-committed results;
- ``stream.py``: server-sent events.
"""

from wagate.events.bus import EventBus
from wagate.events.client import Answer, PublicHttp, RequestFailed, WebhookClient
from wagate.events.dispatcher import DeliverySettings, WebhookDispatcher
from wagate.events.horizon import LogHorizon
from wagate.events.metrics import DeliveryMetrics
from wagate.events.stream import EventStreamResponse, EventStreams, event_json
from wagate.store.crypto import SecretBox, SecretUnreadable, load_or_create_key

__all__ = [
    "Answer",
    "DeliveryMetrics",
    "DeliverySettings",
    "EventBus",
    "EventStreamResponse",
    "EventStreams",
    "LogHorizon",
    "PublicHttp",
    "RequestFailed",
    "SecretBox",
    "SecretUnreadable",
    "WebhookClient",
    "WebhookDispatcher",
    "event_json",
    "load_or_create_key",
]
