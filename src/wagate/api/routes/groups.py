"""Groups: create one, read it, change its subject, description, picture, settings and
participants, get or revoke its invite link, leave it.

Each call is carried out by the worker that runs the session (any worker answers) and
waits for WhatsApp's answer. What WhatsApp then reports about the group (people
joining, leaving, being promoted; a new subject) arrives as ``group.*`` events.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wagate.api.owner_calls import OwnerCalls, OwnerCallsDep
from wagate.api.schemas import GroupOut
from wagate.domain import InvalidDestination, is_group, is_lid, normalize_destination
from wagate.domain.groups import (
    MAX_DESCRIPTION,
    MAX_PARTICIPANTS,
    MAX_SUBJECT,
    ChangeParticipants,
    CreateGroup,
    GroupInfo,
    InviteLink,
    LeaveGroup,
    Person,
    SetGroupPicture,
    UpdateGroup,
)

router = APIRouter(prefix="/v1/sessions", tags=["groups"])


class GroupCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=MAX_SUBJECT)
    participants: list[Person] = Field(
        default_factory=list,
        max_length=MAX_PARTICIPANTS,
        description="phone numbers or JIDs of the people to add",
    )


class GroupUpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, min_length=1, max_length=MAX_SUBJECT)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    announce: bool | None = Field(default=None, description="only admins send messages")
    locked: bool | None = Field(
        default=None, description="only admins change the subject, description and picture"
    )

    @model_validator(mode="after")
    def _something(self) -> GroupUpdateBody:
        if not self.model_dump(exclude_none=True):
            raise ValueError("give at least one of subject, description, announce, locked")
        return self


class PictureBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base64: str = Field(min_length=4, max_length=2_000_000, description="a JPEG image")


class ParticipantsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["add", "remove", "promote", "demote"]
    participants: list[Person] = Field(min_length=1, max_length=MAX_PARTICIPANTS)


class ParticipantResult(BaseModel):
    jid: str
    ok: bool
    error: str | None = None


class ParticipantResults(BaseModel):
    items: list[ParticipantResult]


class InviteLinkOut(BaseModel):
    link: str


GROUP_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "`not_group_admin`: only the group's admins may do this"},
    404: {"description": "`group_not_found`: the session is not in this group"},
    409: {"description": "`session_not_connected`"},
    422: {"description": "`unsupported_by_transport`, `invalid_destination`, `validation_error`"},
}


def _people(participants: list[str]) -> list[str]:
    """Phone numbers and person JIDs, as JIDs; a group among them is a 422."""
    people: list[str] = []
    for given in participants:
        jid = normalize_destination(given)
        if is_group(jid):
            raise InvalidDestination(f"{given!r} is a group, not a person")
        people.append(jid)
    return people


def _group(group_id: str) -> str:
    group = normalize_destination(group_id)
    if not is_group(group) or is_lid(group):
        raise InvalidDestination(f"{group_id!r} is not a group JID")
    return group


async def _manage(calls: OwnerCalls, session_id: str, action: BaseModel) -> dict[str, Any]:
    return await calls.run(session_id, "groups", lambda c: c.groups, "group", action)


@router.post(
    "/{session_id}/groups",
    status_code=status.HTTP_201_CREATED,
    response_model=GroupOut,
    responses=GROUP_ERRORS,
)
async def create_group(
    session_id: str,
    body: GroupCreateBody,
    calls: OwnerCallsDep,
) -> dict[str, Any]:
    """A new group with this session as its owner and ``participants`` added; the answer is
    the group (its ``jid`` ends in ``@g.us``). Someone WhatsApp would not add (not on
    WhatsApp, or their privacy settings) is left out."""
    action = CreateGroup(subject=body.subject, participants=_people(body.participants))
    return await _manage(calls, session_id, action)


@router.get("/{session_id}/groups/{group_id}", response_model=GroupOut, responses=GROUP_ERRORS)
async def group_info(
    session_id: str,
    group_id: str,
    calls: OwnerCallsDep,
) -> dict[str, Any]:
    """A group's subject, description, owner, settings and participants (JID, phone and
    @lid when known)."""
    return await _manage(calls, session_id, GroupInfo(group=_group(group_id)))


@router.patch("/{session_id}/groups/{group_id}", response_model=GroupOut, responses=GROUP_ERRORS)
async def update_group(
    session_id: str,
    group_id: str,
    body: GroupUpdateBody,
    calls: OwnerCallsDep,
) -> dict[str, Any]:
    """Change the subject, description, or settings; only what is given changes."""
    action = UpdateGroup(group=_group(group_id), **body.model_dump(exclude_none=True))
    return await _manage(calls, session_id, action)


@router.put(
    "/{session_id}/groups/{group_id}/picture", response_model=GroupOut, responses=GROUP_ERRORS
)
async def set_group_picture(
    session_id: str,
    group_id: str,
    body: PictureBody,
    calls: OwnerCallsDep,
) -> dict[str, Any]:
    """Set the group's picture (a JPEG, base64)."""
    action = SetGroupPicture(group=_group(group_id), jpeg_base64=body.base64)
    return await _manage(calls, session_id, action)


@router.post(
    "/{session_id}/groups/{group_id}/participants",
    response_model=ParticipantResults,
    responses=GROUP_ERRORS,
)
async def change_participants(
    session_id: str,
    group_id: str,
    body: ParticipantsBody,
    calls: OwnerCallsDep,
) -> dict[str, Any]:
    """Add, remove, promote or demote people; one result per person (``ok``, or why not:
    ``not_on_whatsapp``, ``not_a_participant``, ``already_a_participant``, ...)."""
    action = ChangeParticipants(
        group=_group(group_id), action=body.action, participants=_people(body.participants)
    )
    return await _manage(calls, session_id, action)


@router.get(
    "/{session_id}/groups/{group_id}/invite-link",
    response_model=InviteLinkOut,
    responses=GROUP_ERRORS,
)
async def invite_link(
    session_id: str,
    group_id: str,
    calls: OwnerCallsDep,
) -> dict[str, Any]:
    """The group's invite link (admins only)."""
    action = InviteLink(group=_group(group_id))
    return await _manage(calls, session_id, action)


@router.post(
    "/{session_id}/groups/{group_id}/invite-link/revoke",
    response_model=InviteLinkOut,
    responses=GROUP_ERRORS,
)
async def revoke_invite_link(
    session_id: str,
    group_id: str,
    calls: OwnerCallsDep,
) -> dict[str, Any]:
    """Revoke the invite link: the old one stops working; the answer is the new one."""
    action = InviteLink(group=_group(group_id), reset=True)
    return await _manage(calls, session_id, action)


@router.post(
    "/{session_id}/groups/{group_id}/leave",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=GROUP_ERRORS,
)
async def leave_group(
    session_id: str,
    group_id: str,
    calls: OwnerCallsDep,
) -> None:
    """Leave the group."""
    await _manage(calls, session_id, LeaveGroup(group=_group(group_id)))
