"""Drop-in API surfaces for clients written against other gateways (Evolution API v2)."""

from wagate.api.evolution.routes import router

__all__ = ["router"]
