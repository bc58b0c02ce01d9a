"""The built-in simulator: a fake, in-process WhatsApp network where each session has a phone.

It is the default transport: demos, tests and benchmarks run on it without a
real account. The composition root builds one :class:`SimulatorNetwork` with
the app's clock and registers ``network.create_transport`` as the
``simulator`` factory; the ``/v1/simulator`` routes drive the network with the
request models below.
"""

from wagate.transports.simulator.models import (
    SimulatorCall,
    SimulatorDecryptStorm,
    SimulatorDisconnect,
    SimulatorGroupEvent,
    SimulatorInbound,
    SimulatorMedia,
    SimulatorOutage,
    SimulatorPair,
    SimulatorPresence,
    SimulatorReaction,
    SimulatorReceipt,
    SimulatorSendFailures,
    SimulatorSlowNetwork,
    SimulatorUnknownEvent,
)
from wagate.transports.simulator.network import SimulatorNetwork
from wagate.transports.simulator.normalize import (
    learned_identity,
    media_of,
    normalize_simulator_payload,
)
from wagate.transports.simulator.records import (
    PhoneInfo,
    PresenceRecord,
    ReadRecord,
    SentRecord,
    VirtualContact,
)
from wagate.transports.simulator.rules import on_whatsapp
from wagate.transports.simulator.settings import (
    SimulatorConfig,
    SimulatorSettings,
    validate_simulator_config,
)
from wagate.transports.simulator.transport import SimulatorTransport

__all__ = [
    "PhoneInfo",
    "PresenceRecord",
    "ReadRecord",
    "SentRecord",
    "SimulatorCall",
    "SimulatorConfig",
    "SimulatorDecryptStorm",
    "SimulatorDisconnect",
    "SimulatorGroupEvent",
    "SimulatorInbound",
    "SimulatorMedia",
    "SimulatorNetwork",
    "SimulatorOutage",
    "SimulatorPair",
    "SimulatorPresence",
    "SimulatorReaction",
    "SimulatorReceipt",
    "SimulatorSendFailures",
    "SimulatorSettings",
    "SimulatorSlowNetwork",
    "SimulatorTransport",
    "SimulatorUnknownEvent",
    "VirtualContact",
    "learned_identity",
    "media_of",
    "normalize_simulator_payload",
    "on_whatsapp",
    "validate_simulator_config",
]
