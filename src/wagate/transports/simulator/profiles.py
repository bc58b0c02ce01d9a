"""Profiles on the simulated network: the phone's own name, about text and picture, what
it can see of a contact's profile, and its block list."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import TYPE_CHECKING, Any

from wagate.domain import InvalidRequest, NotFound, phone_jid, phone_of
from wagate.domain.profiles import (
    Block,
    ContactProfile,
    OwnProfile,
    ProfileAction,
    SetProfilePicture,
    UpdateProfile,
)

if TYPE_CHECKING:
    from wagate.transports.simulator.phone import VirtualPhone

PICTURES = "https://pps.whatsapp.net/simulated"  # a name only: nothing is served there


def profile_answer(phone: VirtualPhone, action: ProfileAction) -> dict[str, Any]:
    match action:
        case OwnProfile():
            return _own(phone)
        case UpdateProfile():
            if action.name is not None:
                phone.push_name = action.name
            if action.about is not None:
                phone.about = action.about
            return _own(phone)
        case SetProfilePicture():
            phone.picture_sha256 = hashlib.sha256(jpeg(action.jpeg_base64)).hexdigest()
            return _own(phone)
        case ContactProfile():
            if not phone.reachable(action.jid):
                raise NotFound(f"{action.jid} is not on WhatsApp", code="not_on_whatsapp")
            contact = phone.contact(phone_of(action.jid) or "")
            digest = hashlib.sha256(action.jid.encode()).hexdigest()
            return {
                "jid": action.jid,
                "about": "Available" if contact is not None else None,  # privacy: contacts only
                "picture_url": f"{PICTURES}/{digest[:16]}.jpg" if contact is not None else None,
            }
        case Block():
            if action.blocked:
                phone.blocked.add(action.jid)
            else:
                phone.blocked.discard(action.jid)
            return {"jid": action.jid, "blocked": action.blocked}


def _own(phone: VirtualPhone) -> dict[str, Any]:
    picture = f"{PICTURES}/{phone.picture_sha256[:16]}.jpg" if phone.picture_sha256 else None
    return {
        "jid": phone_jid(phone.number),
        "phone": phone.number,
        "name": phone.push_name,
        "about": phone.about,
        "picture_url": picture,
    }


def jpeg(encoded: str) -> bytes:
    """The bytes of a base64 JPEG; 422 ``invalid_media`` for anything else."""
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("the picture is not valid base64", code="invalid_media") from None
    if not data.startswith(b"\xff\xd8\xff"):
        raise InvalidRequest("a profile or group picture must be a JPEG", code="invalid_media")
    return data
