"""Meta's WhatsApp Business Cloud API as a transport, through pywa's async client.

Sends go out through :class:`CloudTransport`; notifications come in by
webhook (``/v1/ingest/cloud``), are checked with :func:`verify_signature` and
turned into transport events by :func:`normalize_notification`. Graph errors
map to wagate's errors in one table (``errors.py``).
"""

from wagate.transports.cloud.config import (
    SECRET_FIELDS,
    CloudConfig,
    parse_cloud_config,
    validate_cloud_config,
)
from wagate.transports.cloud.errors import GRAPH_ERRORS, GraphErrorRule, rule_for
from wagate.transports.cloud.graph import (
    DEFAULT_GRAPH_URL,
    DownloadedMedia,
    GraphSettings,
    download_media,
    graph_client,
)
from wagate.transports.cloud.normalize import (
    SOURCE,
    bsuid_jid,
    media_id_of,
    normalize_notification,
)
from wagate.transports.cloud.transport import CloudTransport
from wagate.transports.cloud.webhook import verify_challenge, verify_signature

__all__ = [
    "DEFAULT_GRAPH_URL",
    "GRAPH_ERRORS",
    "SECRET_FIELDS",
    "SOURCE",
    "CloudConfig",
    "CloudTransport",
    "DownloadedMedia",
    "GraphErrorRule",
    "GraphSettings",
    "bsuid_jid",
    "download_media",
    "graph_client",
    "media_id_of",
    "normalize_notification",
    "parse_cloud_config",
    "rule_for",
    "validate_cloud_config",
    "verify_challenge",
    "verify_signature",
]
