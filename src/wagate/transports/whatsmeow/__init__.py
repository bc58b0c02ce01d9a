"""The whatsmeow transport (multi-device WhatsApp Web via PyPI ``neonize``), run in engine hosts.

Only the modules imported here may be used by the API process: they never
import neonize. ``engine``, ``build``, ``normalize`` and ``host`` run inside
engine host subprocesses, because loading neonize starts a Go runtime whose
panics abort the whole process.
"""

from wagate.transports.whatsmeow.supervisor import (
    EngineHost,
    EngineSupervisor,
    SupervisorSettings,
)
from wagate.transports.whatsmeow.transport import WhatsmeowTransport

__all__ = ["EngineHost", "EngineSupervisor", "SupervisorSettings", "WhatsmeowTransport"]
