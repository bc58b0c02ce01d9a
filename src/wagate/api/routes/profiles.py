"""The session's own WhatsApp profile, a contact's profile, and blocking.

Carried out by the worker that runs the session (any worker answers), waiting for
WhatsApp's answer; a block is also kept on the contact, so the contacts list shows it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wagate.api.deps import ClockDep, DatabaseDep, PrincipalDep, RegistryDep, RemoteDep
from wagate.api.routes.sessions import load_session_row
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


async def _ask(
    session_id: str,
    action: BaseModel,
    db: DatabaseDep,
    registry: RegistryDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    session = await load_session_row(db, session_id, principal)
    registry.require(session.transport, "profiles", lambda c: c.profile)
    return await remote.call(session.id, "profile", action.model_dump(mode="json"))


def _person(contact: str) -> str:
    jid = normalize_destination(contact)
    if is_group(jid):
        raise InvalidDestination(f"{contact!r} is a group, not a person")
    return jid


@router.get("/{session_id}/profile", response_model=ProfileOut, responses=ERRORS)
async def own_profile(
    session_id: str,
    db: DatabaseDep,
    registry: RegistryDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """The session's own profile as WhatsApp shows it to others."""
    return await _ask(session_id, OwnProfile(), db, registry, remote, principal)


@router.patch("/{session_id}/profile", response_model=ProfileOut, responses=ERRORS)
async def update_profile(
    session_id: str,
    body: ProfileBody,
    db: DatabaseDep,
    registry: RegistryDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Change the profile's name (up to 25 characters) or about text (up to 139)."""
    action = UpdateProfile(name=body.name, about=body.about)
    return await _ask(session_id, action, db, registry, remote, principal)


@router.put("/{session_id}/profile/picture", response_model=ProfileOut, responses=ERRORS)
async def set_profile_picture(
    session_id: str,
    body: PictureBody,
    db: DatabaseDep,
    registry: RegistryDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Set the profile picture (a JPEG, base64)."""
    action = SetProfilePicture(jpeg_base64=body.base64)
    return await _ask(session_id, action, db, registry, remote, principal)


@router.get(
    "/{session_id}/contacts/{contact}/profile", response_model=ContactProfileOut, responses=ERRORS
)
async def contact_profile(
    session_id: str,
    contact: str,
    db: DatabaseDep,
    registry: RegistryDep,
    remote: RemoteDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """A contact's about text and profile picture, as far as their privacy settings let
    this session see them."""
    action = ContactProfile(jid=_person(contact))
    return await _ask(session_id, action, db, registry, remote, principal)


@router.post("/{session_id}/contacts/{contact}/block", response_model=BlockOut, responses=ERRORS)
async def block_contact(
    session_id: str,
    contact: str,
    db: DatabaseDep,
    registry: RegistryDep,
    remote: RemoteDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """Block a contact on WhatsApp: they can no longer write to the session, nor the
    session to them. The contacts list shows ``blocked``."""
    return await _block(session_id, contact, True, db, registry, remote, principal, clock)


@router.post("/{session_id}/contacts/{contact}/unblock", response_model=BlockOut, responses=ERRORS)
async def unblock_contact(
    session_id: str,
    contact: str,
    db: DatabaseDep,
    registry: RegistryDep,
    remote: RemoteDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """Unblock a contact."""
    return await _block(session_id, contact, False, db, registry, remote, principal, clock)


async def _block(
    session_id: str,
    contact: str,
    blocked: bool,
    db: DatabaseDep,
    registry: RegistryDep,
    remote: RemoteDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> dict[str, Any]:
    jid = _person(contact)
    answer = await _ask(
        session_id, Block(jid=jid, blocked=blocked), db, registry, remote, principal
    )
    phone = phone_of(jid)
    if phone:
        session = await load_session_row(db, session_id, principal)
        now = clock.now()
        async with db.transaction() as tx:
            await contacts.set_blocked(tx, session.id, phone, now if blocked else None, now)
    return answer
