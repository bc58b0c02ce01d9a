"""Groups: what a session may ask of WhatsApp about a group, and what it hears back.

Each request is a pydantic model with a ``kind``, so it travels as JSON to the
worker that runs the session (any worker answers the API) and is handed to the
transport as one :data:`GroupAction`. A transport answers with the group as
:func:`group_json` shapes it, or, for participant changes, one result per person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from wagate.domain.errors import Forbidden, NotFound

MAX_SUBJECT = 100  # WhatsApp's limit on a group's name
MAX_DESCRIPTION = 2048
MAX_PARTICIPANTS = 256  # per request; WhatsApp adds at most this many at once

Person = Annotated[str, Field(min_length=1, max_length=128)]
ParticipantAction = Literal["add", "remove", "promote", "demote"]


class GroupNotFound(NotFound):
    """The session is not in this group (or it does not exist)."""

    code = "group_not_found"


class NotGroupAdmin(Forbidden):
    """Only a group's admins may do this."""

    code = "not_group_admin"


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CreateGroup(_Action):
    """``POST /v1/sessions/{id}/groups``: a new group with the session as its owner."""

    kind: Literal["create"] = "create"
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT)
    participants: list[Person] = Field(default_factory=list, max_length=MAX_PARTICIPANTS)


class UpdateGroup(_Action):
    """``PATCH /v1/sessions/{id}/groups/{jid}``: only what is given changes.

    ``announce``: only admins send messages; ``locked``: only admins edit the group's
    subject, description and picture."""

    kind: Literal["update"] = "update"
    group: str = ""
    subject: str | None = Field(default=None, min_length=1, max_length=MAX_SUBJECT)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    announce: bool | None = None
    locked: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateGroup:
        if (self.subject, self.description, self.announce, self.locked) == (None,) * 4:
            raise ValueError("give at least one of subject, description, announce, locked")
        return self


class SetGroupPicture(_Action):
    """``PUT /v1/sessions/{id}/groups/{jid}/picture``: a JPEG (base64 in JSON)."""

    kind: Literal["picture"] = "picture"
    group: str = ""
    jpeg_base64: str = Field(min_length=4, max_length=2_000_000)


class ChangeParticipants(_Action):
    """``POST /v1/sessions/{id}/groups/{jid}/participants``."""

    kind: Literal["participants"] = "participants"
    group: str = ""
    action: ParticipantAction
    participants: list[Person] = Field(min_length=1, max_length=MAX_PARTICIPANTS)


class InviteLink(_Action):
    """``GET .../invite-link`` (``reset`` false) or ``POST .../invite-link/revoke``."""

    kind: Literal["invite_link"] = "invite_link"
    group: str = ""
    reset: bool = False


class LeaveGroup(_Action):
    kind: Literal["leave"] = "leave"
    group: str = ""


class GroupInfo(_Action):
    kind: Literal["info"] = "info"
    group: str = ""


GroupAction = Annotated[
    CreateGroup
    | UpdateGroup
    | SetGroupPicture
    | ChangeParticipants
    | InviteLink
    | LeaveGroup
    | GroupInfo,
    Field(discriminator="kind"),
]
GROUP_ACTION: TypeAdapter[GroupAction] = TypeAdapter(GroupAction)


@dataclass(frozen=True, slots=True)
class Participant:
    jid: str
    phone: str | None = None
    lid: str | None = None
    admin: bool = False
    super_admin: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    jid: str
    subject: str | None
    description: str | None = None
    owner: str | None = None
    created_at: int | None = None  # seconds since the epoch
    announce: bool = False
    locked: bool = False
    participants: list[Participant] = field(default_factory=list)


def group_json(group: Group) -> dict[str, Any]:
    """A group as the API shows it (``name`` and ``topic`` are the older names of
    ``subject`` and ``description``, kept for callers of the first group route)."""
    return {
        "jid": group.jid,
        "subject": group.subject,
        "description": group.description,
        "name": group.subject,
        "topic": group.description,
        "owner": group.owner,
        "created_at": group.created_at,
        "announce": group.announce,
        "locked": group.locked,
        "participants": [
            {
                "jid": p.jid,
                "phone": p.phone,
                "lid": p.lid,
                "admin": p.admin or p.super_admin,
                "super_admin": p.super_admin,
            }
            for p in group.participants
        ],
    }


GroupChange = Literal[
    "joined", "left", "promoted", "demoted", "subject", "description", "announce", "locked"
]


@dataclass(frozen=True, slots=True)
class GroupChanged:
    """WhatsApp told the session about a change in a group it is in (made by anyone,
    the session included): people joined, left, were promoted or demoted; the subject,
    description or settings changed (``value``)."""

    group: str
    change: GroupChange
    timestamp: datetime
    participants: tuple[str, ...] = ()
    by: str | None = None
    value: str | bool | None = None
