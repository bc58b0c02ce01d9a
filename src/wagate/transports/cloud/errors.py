"""Graph API error codes, translated into wagate's errors in one table.

Meta answers a failed call with ``{"error": {"code", "message", ...}}`` and
reports a message that failed later as a ``failed`` status carrying the same
codes in ``errors``. Both go through :func:`rule_for`: a code's rule says
whether retrying can help, which machine-readable wagate code the message's
``error`` gets, and (for token and account trouble) which close code ends the
session's connection, so the session goes ``logged_out`` through the usual
close-code policy instead of failing every message one by one.

Codes: https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
"""

from __future__ import annotations

from dataclasses import dataclass

from wagate.domain import PermanentSendError, TransientSendError, TransportError

LOGGED_OUT = 401  # close code: the credentials are void (policy: logged_out)


@dataclass(frozen=True, slots=True)
class GraphErrorRule:
    code: str  # wagate's machine-readable code for the message's error
    transient: bool  # retrying later may succeed
    close_code: int | None = None  # the session's connection ends with this code
    retry_after: float | None = None  # seconds to wait before retrying, where Meta says


_AUTH = GraphErrorRule("token_invalid", transient=True, close_code=LOGGED_OUT)
_PERMISSION = GraphErrorRule("permission_denied", transient=True, close_code=LOGGED_OUT)

GRAPH_ERRORS: dict[int, GraphErrorRule] = {
    # authorization: the token expired, was revoked or lacks a permission
    0: _AUTH,
    190: _AUTH,
    3: GraphErrorRule("capability_missing", transient=False),
    10: _PERMISSION,
    131005: _PERMISSION,
    # throttling
    4: GraphErrorRule("rate_limited", transient=True, retry_after=60.0),
    80007: GraphErrorRule("rate_limited", transient=True, retry_after=60.0),
    130429: GraphErrorRule("rate_limited", transient=True, retry_after=10.0),
    131056: GraphErrorRule("pair_rate_limited", transient=True, retry_after=60.0),
    133016: GraphErrorRule("rate_limited", transient=True, retry_after=300.0),
    # Meta's side had trouble
    1: GraphErrorRule("graph_unavailable", transient=True),
    2: GraphErrorRule("graph_unavailable", transient=True),
    131000: GraphErrorRule("graph_unavailable", transient=True),
    131016: GraphErrorRule("graph_unavailable", transient=True, retry_after=30.0),
    133004: GraphErrorRule("graph_unavailable", transient=True, retry_after=30.0),
    # the message can never go as asked
    470: GraphErrorRule("reengagement_window_closed", transient=False),
    131047: GraphErrorRule("reengagement_window_closed", transient=False),
    131026: GraphErrorRule("undeliverable", transient=False),
    131021: GraphErrorRule("recipient_is_sender", transient=False),
    131030: GraphErrorRule("recipient_not_allowed", transient=False),
    131048: GraphErrorRule("spam_rate_limited", transient=False),
    131049: GraphErrorRule("marketing_not_delivered", transient=False),
    131050: GraphErrorRule("recipient_opted_out", transient=False),
    131051: GraphErrorRule("unsupported_message_type", transient=False),
    131052: GraphErrorRule("media_download_failed", transient=False),
    131053: GraphErrorRule("media_upload_failed", transient=False),
    131042: GraphErrorRule("payment_issue", transient=False),
    131031: GraphErrorRule("account_locked", transient=False, close_code=403),
    368: GraphErrorRule("account_restricted", transient=False),
    100: GraphErrorRule("invalid_parameter", transient=False),
    131008: GraphErrorRule("invalid_parameter", transient=False),
    131009: GraphErrorRule("invalid_parameter", transient=False),
    132000: GraphErrorRule("template_error", transient=False),
    132001: GraphErrorRule("template_error", transient=False),
    133010: GraphErrorRule("phone_not_registered", transient=False, close_code=LOGGED_OUT),
}

UNKNOWN_PERMANENT = GraphErrorRule("send_failed", transient=False)
UNKNOWN_TRANSIENT = GraphErrorRule("graph_unavailable", transient=True)


def rule_for(code: int | None, http_status: int | None = None) -> GraphErrorRule:
    """The rule for a Graph error code; unknown codes go by the HTTP status (5xx: retry)."""
    if code is not None and code in GRAPH_ERRORS:
        return GRAPH_ERRORS[code]
    if http_status is None or http_status >= 500 or http_status == 429:
        return UNKNOWN_TRANSIENT
    if http_status == 401:
        return _AUTH
    return UNKNOWN_PERMANENT


def send_error(code: int | None, message: str, http_status: int | None = None) -> TransportError:
    """The exception a failed send raises for a Graph error."""
    rule = rule_for(code, http_status)
    text = f"{message} (Graph error {code})" if code is not None else message
    if rule.transient:
        return TransientSendError(text, code=rule.code, retry_after=rule.retry_after)
    return PermanentSendError(text, code=rule.code)


def close_code_for(code: int | None, http_status: int | None = None) -> int:
    """How a failed credentials check closes the connection (sessions/policy.py)."""
    rule = rule_for(code, http_status)
    if rule.close_code is not None:
        return rule.close_code
    if rule.code in ("rate_limited", "pair_rate_limited", "graph_unavailable"):
        return 503  # back off longer
    return 500  # reconnect with backoff
