"""Re-export of :mod:`wagate.domain.policy`.

The policy moved down to the domain so the session layer can read it too.
"""

from wagate.domain.policy import (
    DeliveryPolicy,
    QuietHours,
    resolve_policy,
    validate_overrides,
)

__all__ = ["DeliveryPolicy", "QuietHours", "resolve_policy", "validate_overrides"]
