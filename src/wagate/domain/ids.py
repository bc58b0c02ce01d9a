"""WhatsApp identifiers and the rules that turn user input into them.

WhatsApp addresses every chat by a JID, ``user@server``:

* ``<digits>@s.whatsapp.net``: a person, by phone number (``@c.us`` in older clients);
* ``<id>@g.us``: a group;
* ``<id>@lid``: a person by their "linked identity", which hides the phone number.
"""

from __future__ import annotations

import re
from typing import NewType

from wagate.domain.errors import InvalidDestination

Jid = NewType("Jid", str)
"""A full WhatsApp JID, e.g. ``5511999999999@s.whatsapp.net``."""

PHONE_SERVER = "s.whatsapp.net"
GROUP_SERVER = "g.us"
LID_SERVER = "lid"
LEGACY_PHONE_SERVER = "c.us"

MIN_PHONE_DIGITS = 8
MAX_PHONE_DIGITS = 15  # E.164

_PHONE_DECORATION = re.compile(r"[\s\-().]")
_DIGITS = re.compile(r"\d+")
_LEGACY_GROUP = re.compile(r"\d{8,}-\d{9,}")  # creator phone - creation timestamp
_GROUP_ID = re.compile(r"(?:\d{8,}-\d{9,}|\d{16,})")
_LID_ID = re.compile(r"\d{6,20}")


def phone_jid(digits: str) -> Jid:
    return Jid(f"{digits}@{PHONE_SERVER}")


def group_jid(group_id: str) -> Jid:
    return Jid(f"{group_id}@{GROUP_SERVER}")


def lid_jid(lid: str) -> Jid:
    return Jid(f"{lid}@{LID_SERVER}")


def split_jid(jid: str) -> tuple[str, str]:
    """``user@server`` -> (user, server); a device suffix ``user:7@server`` is dropped."""
    user, _, server = jid.partition("@")
    user = user.split(":", 1)[0]
    return user, server


def is_group(jid: str) -> bool:
    return jid.endswith("@" + GROUP_SERVER)


def is_lid(jid: str) -> bool:
    return jid.endswith("@" + LID_SERVER)


def phone_of(jid: str | None) -> str | None:
    """The phone digits of a phone JID, or None for groups, LIDs and None."""
    if not jid:
        return None
    user, server = split_jid(jid)
    if server in (PHONE_SERVER, LEGACY_PHONE_SERVER) and _DIGITS.fullmatch(user):
        return user
    return None


def normalize_phone(raw: str) -> str:
    """Digits of a phone number written by a person: ``+55 (11) 99999-9999`` -> ``5511999999999``.

    Raises :class:`InvalidDestination` when what is left is not 8-15 digits.
    """
    candidate = _PHONE_DECORATION.sub("", raw.strip())
    candidate = candidate.removeprefix("+")
    if not _DIGITS.fullmatch(candidate):
        raise InvalidDestination(f"{raw!r} is not a phone number")
    if not MIN_PHONE_DIGITS <= len(candidate) <= MAX_PHONE_DIGITS:
        raise InvalidDestination(
            f"{raw!r} has {len(candidate)} digits; a phone number with country code has "
            f"{MIN_PHONE_DIGITS}-{MAX_PHONE_DIGITS}"
        )
    return candidate


def normalize_destination(raw: str) -> Jid:
    """Turn what an API caller wrote in ``to`` into a JID.

    Accepted: phone digits with or without ``+``, spaces, dashes, dots and
    parentheses; a phone JID (``@s.whatsapp.net`` or legacy ``@c.us``); a group
    JID or a bare group id (``120363...`` or ``<creator>-<timestamp>``); an
    ``@lid`` JID. Anything else raises :class:`InvalidDestination`.
    """
    value = raw.strip()
    if not value:
        raise InvalidDestination("the destination is empty")
    if "@" in value:
        user, _, server = value.partition("@")
        if server in (PHONE_SERVER, LEGACY_PHONE_SERVER):
            return phone_jid(normalize_phone(user))
        if server == GROUP_SERVER and _GROUP_ID.fullmatch(user):
            return group_jid(user)
        if server == LID_SERVER and _LID_ID.fullmatch(user):
            return lid_jid(user)
        raise InvalidDestination(f"{raw!r} is not a phone, group or @lid JID")
    compact = value.removeprefix("+")
    if _LEGACY_GROUP.fullmatch(compact) or (
        _DIGITS.fullmatch(compact)
        and len(compact) > MAX_PHONE_DIGITS
        and compact.startswith("120363")
    ):
        return group_jid(compact)
    return phone_jid(normalize_phone(value))
