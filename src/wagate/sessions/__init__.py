"""Session lifecycle: runtimes per session, close-code policy, reconnects, restore on boot."""

from wagate.sessions.hooks import SessionHooks
from wagate.sessions.manager import UNCHANGED, Balance, SessionManager, Unchanged
from wagate.sessions.monitor import ProtocolMonitor
from wagate.sessions.policy import CLOSE_CODES, Action, CloseRule, rule_for
from wagate.sessions.proxy import ProxyProbe, ProxyStatus
from wagate.sessions.runtime import RuntimeSettings, SessionRuntime
from wagate.sessions.secrets import ConfigSecrets
from wagate.sessions.worker import WorkerIdentity

__all__ = [
    "CLOSE_CODES",
    "UNCHANGED",
    "Action",
    "Balance",
    "CloseRule",
    "ConfigSecrets",
    "ProtocolMonitor",
    "ProxyProbe",
    "ProxyStatus",
    "RuntimeSettings",
    "SessionHooks",
    "SessionManager",
    "SessionRuntime",
    "Unchanged",
    "WorkerIdentity",
    "rule_for",
]
