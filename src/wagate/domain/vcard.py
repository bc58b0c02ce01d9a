"""The vCard WhatsApp puts in a contact message, made from a wagate contact card."""

from __future__ import annotations

from wagate.domain.messages import ContactCard


def _escape(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace("\n", "\\n")
        .replace("\r", "")
        .replace(",", "\\,")
        .replace(";", "\\;")
    )


def vcard(card: ContactCard) -> str:
    """A vCard 3.0 for one contact; ``waid`` makes WhatsApp offer "Message" on it."""
    digits = "".join(ch for ch in card.phone if ch.isdigit())
    name = _escape(card.name)
    return (
        "BEGIN:VCARD\n"
        "VERSION:3.0\n"
        f"N:;{name};;;\n"
        f"FN:{name}\n"
        f"TEL;type=CELL;type=VOICE;waid={digits}:+{digits}\n"
        "END:VCARD"
    )
