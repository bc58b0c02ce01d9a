"""The ``evolution`` transport: an existing Evolution API server used as the WhatsApp engine.

Sends through Evolution's REST API (:mod:`.client`, :mod:`.outbound`), watches the
connection (:mod:`.transport`), and turns Evolution's webhooks into normalized
events (:mod:`.normalize`, pure functions tested on golden payloads).
"""

from wagate.transports.evolution.client import EvolutionClient
from wagate.transports.evolution.config import (
    SECRET_FIELDS,
    EvolutionConfig,
    evolution_config_validator,
    parse_evolution_config,
    validate_evolution_config,
)
from wagate.transports.evolution.normalize import (
    IGNORED_EVENTS,
    Normalized,
    event_name,
    normalize_evolution_payload,
)
from wagate.transports.evolution.transport import EvolutionTransport

__all__ = [
    "IGNORED_EVENTS",
    "SECRET_FIELDS",
    "EvolutionClient",
    "EvolutionConfig",
    "EvolutionTransport",
    "Normalized",
    "event_name",
    "evolution_config_validator",
    "normalize_evolution_payload",
    "parse_evolution_config",
    "validate_evolution_config",
]
