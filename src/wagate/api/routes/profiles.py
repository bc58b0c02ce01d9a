"""The session's own WhatsApp profile, a contact's profile, and blocking.

Carried out by the worker that runs the session (any worker answers), waiting for
WhatsApp's answer; a block is also kept on the contact, so the contacts list shows it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wagate.api.deps import ClockDep
from wagate.api.owner_calls import OwnerCalls, OwnerCallsDep
from wagate.domain import InvalidDestination, is_group, normalize_destination, phone_of
from wagate.domain.profiles import (
    MAX_ABOUT,
    MAX_NAME,
    Block,
    ContactProfile,
    OwnProfile,
    SetProfilePicture,
    UpdateProfile,
)
from wagate.store.repositories import contacts

router = APIRouter(prefix="/v1/sessions", tags=["profiles"])


class ProfileOut(BaseModel):
    jid: str
    phone: str | None = None
    name: str | None = None
    about: str | None = None
    picture_url: str | None = Field(default=None, description="WhatsApp's link; it expires")


class ContactProfileOut(BaseModel):
    jid: str
    about: str | None = Field(default=None, description="null when their privacy hides it")
    picture_url: str | None = None


class BlockOut(BaseModel):
    jid: str
    blocked: bool


class ProfileBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    about: str | None = Field(default=None, max_length=MAX_ABOUT)

    @model_validator(mode="after")
    def _something(self) -> ProfileBody:
        if self.name is None and self.about is None:
            raise ValueError("give 'name', 'about' or both")
        return self


class PictureBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base64: str = Field(min_length=4, max_length=2_000_000, description="a JPEG image")


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_on_whatsapp`: no account at that number"},
    409: {"description": "`session_not_connected`"},
    422: {"description": "`unsupported_by_transport`, `invalid_destination`, `invalid_media`"},
}


async def _ask(calls: OwnerCalls, session_id: str, action: BaseModel) -> dict[str, Any]:
    return await calls.run(session_id, "profiles", lambda c: c.profile, "profile", action)


def _person(contact: str) -> str:
    jid = normalize_destination(contact)
    if is_group(jid):
        raise InvalidDestination(f"{contact!r} is a group, not a person")
    return jid


@router.get("/{session_id}/profile", response_model=ProfileOut, responses=ERRORS)
async def own_profile(
    session_id: str,
    calls: OwnerCallsDep,
) -> dict[str, Any]:
    """The session's own profile as WhatsApp shows it to others."""
    return await _ask(calls, session_id, OwnProfile())


@router.patch("/{session_id}/profile", response_model=ProfileOut, responses=ERRORS)
async def update_profile(
    session_id: str,
    body: ProfileBody,
    calls: OwnerCallsDep,
) -> dict[str, Any]:
    """Change the profile's name (up to 25 characters) or about text (up to 139)."""
    action = UpdateProfile(name=body.name, about=body.about)
    return await _ask(calls, session_id, action)


@router.put("/{session_id}/profile/picture", response_model=ProfileOut, responses=ERRORS)
async def set_profile_picture(
    session_id: str,
    body: PictureBody,
    calls: OwnerCallsDep,
) -> dict[str, Any]:
    """Set the profile picture (a JPEG, base64)."""
    action = SetProfilePicture(jpeg_base64=body.base64)
    return await _ask(calls, session_id, action)


@router.get(
    "/{session_id}/contacts/{contact}/profile", response_model=ContactProfileOut, responses=ERRORS
)
async def contact_profile(
    session_id: str,
    contact: str,
    calls: OwnerCallsDep,
) -> dict[str, Any]:
    """A contact's about text and profile picture, as far as their privacy settings let
    this session see them."""
    action = ContactProfile(jid=_person(contact))
    return await _ask(calls, session_id, action)


@router.post("/{session_id}/contacts/{contact}/block", response_model=BlockOut, responses=ERRORS)
async def block_contact(
    session_id: str,
    contact: str,
    calls: OwnerCallsDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """Block a contact on WhatsApp: they can no longer write to the session, nor the
    session to them. The contacts list shows ``blocked``."""
    return await _block(calls, session_id, contact, True, clock)


@router.post("/{session_id}/contacts/{contact}/unblock", response_model=BlockOut, responses=ERRORS)
async def unblock_contact(
    session_id: str,
    contact: str,
    calls: OwnerCallsDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """Unblock a contact."""
    return await _block(calls, session_id, contact, False, clock)


async def _block(
    calls: OwnerCalls, session_id: str, contact: str, blocked: bool, clock: ClockDep
) -> dict[str, Any]:
    jid = _person(contact)
    answer = await _ask(calls, session_id, Block(jid=jid, blocked=blocked))
    phone = phone_of(jid)
    if phone:
        session = await calls.session(session_id)
        now = clock.now()
        async with calls.db.transaction() as tx:
            await contacts.set_blocked(tx, session.id, phone, now if blocked else None, now)
    return answer
