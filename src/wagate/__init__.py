"""wagate: a self-hosted WhatsApp gateway and conversation engine."""

__version__ = "0.1.0"
