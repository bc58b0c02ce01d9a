"""The error tree of wagate.

Every error we raise on purpose descends from :class:`WagateError` and
carries a machine-readable ``code`` and the HTTP status the API answers with.
The API turns them into ``{"error": {"code", "message"}}`` in one handler.

::

    WagateError
    ├── NotFound (404)
    ├── Conflict (409)
    │   ├── NotConnected
    │   │   └── NotRunning
    │   ├── NotWaitingForScan
    │   ├── SessionNameTaken
    │   └── IdempotencyKeyInFlight
    ├── InvalidRequest (422)
    │   ├── IdempotencyKeyReused
    │   ├── InvalidDestination
    │   ├── UnsupportedByTransport
    │   └── UnsafeUrl
    ├── TooManyStreams (429) / TooManyAttempts (429)
    ├── OwnerTimeout (504) / RemoteError (the owner's status)
    ├── AuthError (401)
    │   └── InvalidCredentials
    ├── Forbidden (403)
    │   ├── QuotaExceeded
    │   └── CsrfFailed
    ├── ConfigError           (bad settings; stops startup)
    ├── StorageError          (database trouble; 503)
    └── TransportError        (a send or connect failed; is_transient says retry)
        ├── PermanentSendError
        └── TransientSendError
"""

from __future__ import annotations

from typing import ClassVar


class WagateError(Exception):
    """Something went wrong in wagate."""

    code: ClassVar[str] = "internal_error"
    status_code: ClassVar[int] = 500

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        self.message = message or (self.__doc__ or self.code).strip().splitlines()[0]
        if code is not None:
            self.code = code  # type: ignore[misc]
        super().__init__(self.message)


class NotFound(WagateError):
    """The resource does not exist or belongs to another tenant."""

    code = "not_found"
    status_code = 404


class Conflict(WagateError):
    """The request conflicts with the resource's current state."""

    code = "conflict"
    status_code = 409


class NotConnected(Conflict):
    """The session has no live connection now (it is not running, or is reconnecting)."""

    code = "session_not_connected"


class NotRunning(NotConnected):
    """No worker runs the session now: it is stopped, or between workers."""

    code = "session_not_running"


class OwnerTimeout(WagateError):
    """The worker that runs the session did not answer in time."""

    code = "owner_timeout"
    status_code = 504


class RemoteError(WagateError):
    """An error the worker that runs the session answered with, passed on as it was."""

    def __init__(self, code: str, message: str, status_code: int) -> None:
        super().__init__(message, code=code)
        self.status_code = status_code  # type: ignore[misc]


class NotWaitingForScan(Conflict):
    """The session is not waiting for a QR scan."""

    code = "not_waiting_for_scan"


class SessionNameTaken(Conflict):
    """A session with this name already exists."""

    code = "session_name_taken"


class PayloadTooLarge(WagateError):
    """The request body is larger than the route takes."""

    code = "payload_too_large"
    status_code = 413


class InvalidRequest(WagateError):
    """The request is well-formed but cannot be carried out."""

    code = "invalid_request"
    status_code = 422


class SetupDone(InvalidRequest):
    """The first user exists already: setting up is over."""

    code = "setup_done"


class IdempotencyKeyReused(InvalidRequest):
    """This Idempotency-Key was used with a different request body."""

    code = "idempotency_key_reused"


class IdempotencyKeyInFlight(Conflict):
    """A request with this Idempotency-Key is still being processed; retry later."""

    code = "idempotency_key_in_flight"


class InvalidDestination(InvalidRequest):
    """The destination is not a phone number, group or @lid JID."""

    code = "invalid_destination"


class UnsupportedByTransport(InvalidRequest):
    """The session's transport cannot do this."""

    code = "unsupported_by_transport"


class UnsafeUrl(InvalidRequest):
    """The URL points at a loopback, private, link-local or metadata address."""

    code = "unsafe_url"


class TooManyStreams(WagateError):
    """This key has as many live streams open as a worker allows."""

    code = "too_many_streams"
    status_code = 429


class TooManyAttempts(WagateError):
    """Too many failed logins for this account or from this address: wait and retry."""

    code = "too_many_attempts"
    status_code = 429

    def __init__(self, message: str | None = None, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AuthError(WagateError):
    """Missing or wrong API key, token or login."""

    code = "unauthorized"
    status_code = 401


class InvalidCredentials(AuthError):
    """The e-mail and password do not match an active user (which one is wrong is not said)."""

    code = "invalid_credentials"


class Forbidden(WagateError):
    """This key may not do that."""

    code = "forbidden"
    status_code = 403


class CsrfFailed(Forbidden):
    """A browser's change without the page's CSRF token, or from another origin."""

    code = "csrf_failed"


class QuotaExceeded(Forbidden):
    """The tenant has as many sessions as its quota allows."""

    code = "session_quota_exceeded"


class ConfigError(WagateError):
    """A setting is invalid."""

    code = "config_error"


class StorageError(WagateError):
    """The database could not be reached or refused the operation."""

    code = "storage_unavailable"
    status_code = 503


class TransportError(WagateError):
    """The WhatsApp engine refused or failed an operation."""

    code = "transport_error"
    status_code = 502
    is_transient: ClassVar[bool] = True

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class TransientSendError(TransportError):
    """The send failed for a reason that may pass; it will be retried."""

    code = "transient_send_error"


class ConnectionGone(TransientSendError):
    """The engine has no live connection for the operation: it went down, or was never up.

    Raised by transports; the runtime reports the dead connection (reconnect) and the
    outbound queue gives the message back to be sent once the session is connected.
    """

    code = "not_connected"


class PermanentSendError(TransportError):
    """The send can never succeed as asked (bad recipient, unreachable media...)."""

    code = "send_failed"
    is_transient = False
