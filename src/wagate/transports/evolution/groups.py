"""Groups and profiles through Evolution API v2's endpoints.

=========================  ==================================================================
wagate                     Evolution (``?groupJid=`` names the group)
=========================  ==================================================================
create                     ``POST /group/create`` ``{subject, participants}``
info                       ``GET /group/findGroupInfos``
subject, description       ``POST /group/updateGroupSubject`` / ``updateGroupDescription``
announce, locked           ``POST /group/updateSetting`` ``{action: announcement|...}``
picture                    ``POST /group/updateGroupPicture`` ``{image}`` (base64)
participants               ``POST /group/updateParticipant`` ``{action, participants}``
invite link                ``GET /group/inviteCode``; revoke ``POST /group/revokeInviteCode``
leave                      ``DELETE /group/leaveGroup``
own profile                ``POST /chat/fetchProfile`` ``{number}`` (our own)
name, about, picture       ``POST /chat/updateProfileName`` / ``updateProfileStatus`` /
                           ``updateProfilePicture``
a contact's profile        ``POST /chat/fetchProfile`` ``{number}``
block, unblock             ``POST /message/updateBlockStatus`` ``{number, status}``
=========================  ==================================================================
"""

from __future__ import annotations

from typing import Any

from wagate.domain import TransportError, phone_of
from wagate.domain.groups import (
    ChangeParticipants,
    CreateGroup,
    Group,
    GroupAction,
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
from wagate.domain.profiles import (
    Block,
    ContactProfile,
    OwnProfile,
    ProfileAction,
    SetProfilePicture,
    UpdateProfile,
)
from wagate.transports.evolution.client import EvolutionClient

INVITE_URL = "https://chat.whatsapp.com/"


async def run_group(client: EvolutionClient, action: GroupAction) -> dict[str, Any]:
    if isinstance(action, CreateGroup):
        body = {
            "subject": action.subject,
            "participants": [_number(p) for p in action.participants],
        }
        created = await _call(client, "POST", "create", json=body)
        return group_from_evolution(created)
    query = {"groupJid": action.group}
    match action:
        case GroupInfo():
            return group_from_evolution(await _call(client, "GET", "findGroupInfos", params=query))
        case UpdateGroup():
            if action.subject is not None:
                body = {"subject": action.subject}
                await _call(client, "POST", "updateGroupSubject", json=body, params=query)
            if action.description is not None:
                body = {"description": action.description}
                await _call(client, "POST", "updateGroupDescription", json=body, params=query)
            for setting, on, off in (
                (action.announce, "announcement", "not_announcement"),
                (action.locked, "locked", "unlocked"),
            ):
                if setting is not None:
                    body = {"action": on if setting else off}
                    await _call(client, "POST", "updateSetting", json=body, params=query)
        case SetGroupPicture():
            body = {"image": action.jpeg_base64}
            await _call(client, "POST", "updateGroupPicture", json=body, params=query)
        case ChangeParticipants():
            body = {
                "action": action.action,
                "participants": [_number(p) for p in action.participants],
            }
            answer = await _call(client, "POST", "updateParticipant", json=body, params=query)
            return {"items": participant_results(action.participants, answer)}
        case InviteLink():
            if action.reset:
                answer = await _call(client, "POST", "revokeInviteCode", params=query)
            else:
                answer = await _call(client, "GET", "inviteCode", params=query)
            code = str((answer or {}).get("inviteCode") or "")
            return {"link": (answer or {}).get("inviteUrl") or f"{INVITE_URL}{code}"}
        case LeaveGroup():
            await _call(client, "DELETE", "leaveGroup", params=query)
            return {}
    return group_from_evolution(await _call(client, "GET", "findGroupInfos", params=query))


async def _call(client: EvolutionClient, method: str, action: str, **kw: Any) -> Any:
    try:
        return await client.call(method, "group", action, **kw)
    except TransportError as exc:
        raise _group_error(exc) from None


def _group_error(exc: TransportError) -> Exception:
    text = exc.message.lower()
    if "not-authorized" in text or "forbidden" in text or "not admin" in text:
        return NotGroupAdmin(f"Evolution: only the group's admins may do this ({exc.message})")
    if "item-not-found" in text or "not found" in text or "does not exist" in text:
        return GroupNotFound(f"Evolution: this session is not in the group ({exc.message})")
    return exc


def group_from_evolution(body: Any) -> dict[str, Any]:
    """Evolution's group metadata (Baileys' ``GroupMetadata``) as wagate shows a group."""
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise TransportError("Evolution answered without the group")
    participants = []
    for p in body.get("participants") or []:
        if not isinstance(p, dict) or not isinstance(p.get("id"), str):
            continue
        jid = p.get("phoneNumber") or p["id"]
        role = p.get("admin")
        participants.append(
            Participant(
                jid=jid,
                phone=phone_of(jid),
                lid=p["id"] if p["id"].endswith("@lid") else None,
                admin=role in ("admin", "superadmin"),
                super_admin=role == "superadmin",
            )
        )
    created = body.get("creation")
    group = Group(
        jid=body["id"],
        subject=body.get("subject") or None,
        description=body.get("desc") or None,
        owner=body.get("owner") or None,
        created_at=int(created) if isinstance(created, int | float) else None,
        announce=bool(body.get("announce")),
        locked=bool(body.get("restrict")),
        participants=participants,
    )
    return group_json(group)


def participant_results(asked: list[str], answer: Any) -> list[dict[str, Any]]:
    """One result per person from ``updateParticipant``'s ``updateParticipants`` list
    (``status`` "200", or an error code: 403 not allowed, 404 not on WhatsApp, 409 there)."""
    statuses: dict[str, str] = {}
    rows = (answer or {}).get("updateParticipants") if isinstance(answer, dict) else None
    for row in rows or []:
        if isinstance(row, dict) and isinstance(row.get("jid"), str):
            statuses[row["jid"]] = str(row.get("status", "200"))
    errors = {"403": "not_allowed", "404": "not_on_whatsapp", "409": "already_a_participant"}
    results = []
    for person in asked:
        status = statuses.get(person, "200")
        error = None if status == "200" else errors.get(status, f"error_{status}")
        results.append({"jid": person, "ok": error is None, "error": error})
    return results


async def run_profile(
    client: EvolutionClient, action: ProfileAction, own_phone: str | None
) -> dict[str, Any]:
    match action:
        case ContactProfile():
            profile = await client.chat("fetchProfile", {"number": _number(action.jid)})
            return {
                "jid": action.jid,
                "about": _status_of(profile),
                "picture_url": (profile or {}).get("picture") or None,
            }
        case Block():
            body = {
                "number": _number(action.jid),
                "status": "block" if action.blocked else "unblock",
            }
            await client.call("POST", "message", "updateBlockStatus", json=body)
            return {"jid": action.jid, "blocked": action.blocked}
        case UpdateProfile():
            if action.name is not None:
                await client.chat("updateProfileName", {"name": action.name})
            if action.about is not None:
                await client.chat("updateProfileStatus", {"status": action.about})
        case SetProfilePicture():
            await client.chat("updateProfilePicture", {"picture": action.jpeg_base64})
        case OwnProfile():
            pass
    if not own_phone:
        raise TransportError("the instance's own number is not known yet")
    profile = await client.chat("fetchProfile", {"number": own_phone})
    return {
        "jid": f"{own_phone}@s.whatsapp.net",
        "phone": own_phone,
        "name": (profile or {}).get("name") or None,
        "about": _status_of(profile),
        "picture_url": (profile or {}).get("picture") or None,
    }


def _status_of(profile: Any) -> str | None:
    status = (profile or {}).get("status") if isinstance(profile, dict) else None
    if isinstance(status, dict):
        status = status.get("status")
    return status if isinstance(status, str) and status else None


def _number(jid: str) -> str:
    return phone_of(jid) or jid
