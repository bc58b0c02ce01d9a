"""The simulated network's groups, as WhatsApp keeps them for one phone: members and
their roles, subject, description, settings, picture and invite link.

:class:`GroupBook` carries out a :data:`~wagate.domain.groups.GroupAction` by WhatsApp's
rules (admins only for settings and participants; in a ``locked`` group, admins only
for the subject, description and picture) and returns the answer with the
notifications WhatsApp would send the phone about the change, its own changes
included.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wagate.domain import phone_of
from wagate.domain.groups import (
    ChangeParticipants,
    CreateGroup,
    Group,
    GroupAction,
    GroupChange,
    GroupChanged,
    GroupInfo,
    GroupNotFound,
    InviteLink,
    LeaveGroup,
    NotGroupAdmin,
    Participant,
    SetGroupPicture,
    UpdateGroup,
    group_json,
)
from wagate.transports.simulator.profiles import jpeg

MEMBER, ADMIN, SUPER_ADMIN = "member", "admin", "superadmin"


@dataclass
class SimGroup:
    jid: str
    subject: str
    owner: str
    created_at: int
    invite_code: str
    description: str | None = None
    announce: bool = False
    locked: bool = False
    picture_sha256: str | None = None
    roles: dict[str, str] = field(default_factory=dict)  # member JID -> role, in joining order

    def as_group(self) -> Group:
        return Group(
            jid=self.jid,
            subject=self.subject,
            description=self.description,
            owner=self.owner,
            created_at=self.created_at,
            announce=self.announce,
            locked=self.locked,
            participants=[
                Participant(
                    jid=jid,
                    phone=phone_of(jid),
                    admin=role != MEMBER,
                    super_admin=role == SUPER_ADMIN,
                )
                for jid, role in self.roles.items()
            ],
        )


Answer = tuple[dict[str, Any], list[GroupChanged]]


class GroupBook:
    """One phone's groups. ``own`` is the phone's JID; ``on_whatsapp(jid)`` says whether
    someone can be added; ``rng`` makes group ids and invite codes reproducible."""

    def __init__(self, own: str, on_whatsapp: Callable[[str], bool], rng: random.Random) -> None:
        self.own = own
        self.on_whatsapp = on_whatsapp
        self.rng = rng
        self.groups: dict[str, SimGroup] = {}

    def apply(self, action: GroupAction, now: datetime) -> Answer:
        match action:
            case CreateGroup():
                return self._create(action, now)
            case GroupInfo():
                return group_json(self._member_of(action.group).as_group()), []
            case UpdateGroup():
                return self._update(action, now)
            case SetGroupPicture():
                return self._picture(action)
            case ChangeParticipants():
                return self._participants(action, now)
            case InviteLink():
                return self._invite(action)
            case LeaveGroup():
                return self._leave(action, now)

    # ------------------------------------------------------------------ actions

    def _create(self, action: CreateGroup, now: datetime) -> Answer:
        jid = f"120363{self.rng.randrange(10**11, 10**12)}@g.us"
        group = SimGroup(
            jid=jid,
            subject=action.subject,
            owner=self.own,
            created_at=int(now.timestamp()),
            invite_code=self._code(),
            roles={self.own: SUPER_ADMIN},
        )
        added = [p for p in dict.fromkeys(action.participants) if self.on_whatsapp(p)]
        group.roles.update((p, MEMBER) for p in added if p != self.own)
        self.groups[jid] = group
        joined = [p for p in group.roles if p != self.own]
        events = [self._event(group, "joined", now, joined)] if joined else []
        return group_json(group.as_group()), events

    def _update(self, action: UpdateGroup, now: datetime) -> Answer:
        group = self._member_of(action.group)
        if action.announce is not None or action.locked is not None or group.locked:
            self._require_admin(group)
        events: list[GroupChanged] = []
        for change, value in (
            ("subject", action.subject),
            ("description", action.description),
            ("announce", action.announce),
            ("locked", action.locked),
        ):
            if value is not None and getattr(group, change) != value:
                setattr(group, change, value)
                events.append(self._event(group, change, now, value=value))  # type: ignore[arg-type]
        return group_json(group.as_group()), events

    def _picture(self, action: SetGroupPicture) -> Answer:
        group = self._member_of(action.group)
        if group.locked:
            self._require_admin(group)
        data = jpeg(action.jpeg_base64)
        group.picture_sha256 = hashlib.sha256(data).hexdigest()
        return group_json(group.as_group()), []

    def _participants(self, action: ChangeParticipants, now: datetime) -> Answer:
        group = self._member_of(action.group)
        self._require_admin(group)
        results: list[dict[str, Any]] = []
        changed: list[str] = []
        for person in dict.fromkeys(action.participants):
            error = self._refusal(group, action.action, person)
            results.append({"jid": person, "ok": error is None, "error": error})
            if error is not None:
                continue
            changed.append(person)
            if action.action == "add":
                group.roles[person] = MEMBER
            elif action.action == "remove":
                del group.roles[person]
            else:
                group.roles[person] = ADMIN if action.action == "promote" else MEMBER
        change: GroupChange = {
            "add": "joined",
            "remove": "left",
            "promote": "promoted",
            "demote": "demoted",
        }[action.action]  # type: ignore[assignment]
        events = [self._event(group, change, now, changed)] if changed else []
        return {"items": results}, events

    def _refusal(self, group: SimGroup, action: str, person: str) -> str | None:
        role = group.roles.get(person)
        if action == "add":
            if role is not None:
                return "already_a_participant"
            return None if self.on_whatsapp(person) else "not_on_whatsapp"
        if role is None:
            return "not_a_participant"
        if role == SUPER_ADMIN and person != self.own:
            return "is_the_owner"  # nobody removes or demotes the group's creator
        return None

    def _invite(self, action: InviteLink) -> Answer:
        group = self._member_of(action.group)
        self._require_admin(group)
        if action.reset:
            group.invite_code = self._code()
        return {"link": f"https://chat.whatsapp.com/{group.invite_code}"}, []

    def _leave(self, action: LeaveGroup, now: datetime) -> Answer:
        group = self._member_of(action.group)
        del group.roles[self.own]
        del self.groups[group.jid]
        return {}, [self._event(group, "left", now, [self.own])]

    # ------------------------------------------------------------------ what others do

    def others_changed(
        self, group_jid: str, change: GroupChange, people: list[str], by: str | None, now: datetime
    ) -> GroupChanged:
        """Someone else's change reaches the phone (people join, leave, are promoted or
        demoted); a group the phone is added to becomes one of its groups."""
        group = self.groups.get(group_jid)
        if group is None:
            if change != "joined" or self.own not in people:
                raise GroupNotFound(f"the phone is not in {group_jid}")
            owner = by or people[0]
            group = SimGroup(
                jid=group_jid,
                subject="Group",
                owner=owner,
                created_at=int(now.timestamp()),
                invite_code=self._code(),
                roles={owner: SUPER_ADMIN},
            )
            self.groups[group_jid] = group
        for person in people:
            if change == "joined":
                group.roles.setdefault(person, MEMBER)
            elif change == "left":
                group.roles.pop(person, None)
            elif person in group.roles:
                group.roles[person] = ADMIN if change == "promoted" else MEMBER
        if change == "left" and self.own in people:
            del self.groups[group_jid]
        return GroupChanged(group_jid, change, now, tuple(people), by)

    # ------------------------------------------------------------------ helpers

    def _member_of(self, jid: str) -> SimGroup:
        group = self.groups.get(jid)
        if group is None or self.own not in group.roles:
            raise GroupNotFound(f"this session is not in the group {jid}")
        return group

    def _require_admin(self, group: SimGroup) -> None:
        if group.roles.get(self.own, MEMBER) == MEMBER:
            raise NotGroupAdmin(f"only the admins of {group.jid} may do this")

    def _code(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(self.rng.choice(alphabet) for _ in range(22))

    def _event(
        self,
        group: SimGroup,
        change: GroupChange,
        now: datetime,
        people: list[str] | None = None,
        value: str | bool | None = None,
    ) -> GroupChanged:
        return GroupChanged(group.jid, change, now, tuple(people or ()), self.own, value)
