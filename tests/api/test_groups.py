"""Groups on the simulator, on both databases: create, change, participants, invite link,
leave; WhatsApp's notices of each change arrive as ``group.*`` events. The simulated
network keeps WhatsApp's rules: only admins change settings and participants."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.api.helpers import connected_session
from tests.support.server import RunningServer, eventually

ANA, BIA, NOBODY = "5511911110001", "5511911110002", "09990000000"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


async def _events(admin: httpx.AsyncClient, sid: str, kind: str, count: int) -> list[Any]:
    async def arrived() -> list[Any]:
        page = await admin.get("/v1/events", params={"type": kind, "session_id": sid})
        items = [e["data"] for e in page.json()["items"]]
        assert len(items) == count, items
        return items

    result: list[Any] = await eventually(arrived)
    return result


def _roles(group: dict[str, Any]) -> dict[str, str]:
    def role(p: dict[str, Any]) -> str:
        return "owner" if p["super_admin"] else "admin" if p["admin"] else "member"

    return {p["phone"]: role(p) for p in group["participants"]}


async def test_a_group_is_created_changed_and_left(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid, own = session["id"], session["phone"]
    created = await admin.post(
        f"/v1/sessions/{sid}/groups",
        json={"subject": "Launch team", "participants": [f"+{ANA}", NOBODY]},
    )
    assert created.status_code == 201, created.text
    group = created.json()
    jid = group["jid"]
    assert jid.endswith("@g.us")
    assert group["subject"] == "Launch team"
    assert _roles(group) == {own: "owner", ANA: "member"}  # no account: left out
    [joined] = await _events(admin, sid, "group.participants", 1)
    assert (joined["group"], joined["change"]) == (jid, "joined")
    assert joined["participants"] == [f"{ANA}@s.whatsapp.net"]

    changed = await admin.patch(
        f"/v1/sessions/{sid}/groups/{jid}",
        json={"subject": "Launch", "description": "Friday 10:00", "announce": True},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["subject"], changed.json()["description"]) == ("Launch", "Friday 10:00")
    assert changed.json()["announce"] is True
    updates = await _events(admin, sid, "group.updated", 3)
    assert [(u["change"], u["value"]) for u in updates] == [
        ("subject", "Launch"),
        ("description", "Friday 10:00"),
        ("announce", True),
    ]

    results = await admin.post(
        f"/v1/sessions/{sid}/groups/{jid}/participants",
        json={"action": "add", "participants": [BIA, ANA, NOBODY]},
    )
    assert results.status_code == 200, results.text
    assert [(r["ok"], r["error"]) for r in results.json()["items"]] == [
        (True, None),
        (False, "already_a_participant"),
        (False, "not_on_whatsapp"),
    ]
    await admin.post(
        f"/v1/sessions/{sid}/groups/{jid}/participants",
        json={"action": "promote", "participants": [BIA]},
    )
    await admin.post(
        f"/v1/sessions/{sid}/groups/{jid}/participants",
        json={"action": "remove", "participants": [ANA]},
    )
    people = await _events(admin, sid, "group.participants", 4)
    assert [(e["change"], e["participants"]) for e in people[1:]] == [
        ("joined", [f"{BIA}@s.whatsapp.net"]),
        ("promoted", [f"{BIA}@s.whatsapp.net"]),
        ("left", [f"{ANA}@s.whatsapp.net"]),
    ]
    shown = (await admin.get(f"/v1/sessions/{sid}/groups/{jid}")).json()
    assert _roles(shown) == {own: "owner", BIA: "admin"}

    link = (await admin.get(f"/v1/sessions/{sid}/groups/{jid}/invite-link")).json()["link"]
    assert link.startswith("https://chat.whatsapp.com/")
    again = (await admin.get(f"/v1/sessions/{sid}/groups/{jid}/invite-link")).json()["link"]
    revoked = await admin.post(f"/v1/sessions/{sid}/groups/{jid}/invite-link/revoke")
    assert again == link
    assert revoked.json()["link"] not in (link, None)

    picture = await admin.put(
        f"/v1/sessions/{sid}/groups/{jid}/picture",
        json={"base64": base64.b64encode(JPEG).decode()},
    )
    assert picture.status_code == 200, picture.text
    not_jpeg = await admin.put(
        f"/v1/sessions/{sid}/groups/{jid}/picture",
        json={"base64": base64.b64encode(b"GIF89a....").decode()},
    )
    assert not_jpeg.status_code == 422

    left = await admin.post(f"/v1/sessions/{sid}/groups/{jid}/leave")
    assert left.status_code == 204, left.text
    gone = await admin.get(f"/v1/sessions/{sid}/groups/{jid}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "group_not_found"


async def test_in_someone_elses_group_only_admins_change_things(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid, own = session["id"], session["phone"]
    group = "120363000000000042@g.us"
    added = await admin.post(
        f"/v1/simulator/{sid}/group-event",
        json={"group": group, "change": "joined", "participants": [own], "by": ANA},
    )
    assert added.status_code == 202, added.text
    [joined] = await _events(admin, sid, "group.participants", 1)
    assert (joined["participants"], joined["by"]) == (
        [f"{own}@s.whatsapp.net"],
        f"{ANA}@s.whatsapp.net",
    )

    refused = await admin.patch(f"/v1/sessions/{sid}/groups/{group}", json={"locked": True})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_group_admin"
    link = await admin.get(f"/v1/sessions/{sid}/groups/{group}/invite-link")
    assert link.status_code == 403
    # a member may still change the subject of a group that is not locked
    renamed = await admin.patch(f"/v1/sessions/{sid}/groups/{group}", json={"subject": "Ours"})
    assert renamed.status_code == 200, renamed.text

    await admin.post(
        f"/v1/simulator/{sid}/group-event",
        json={"group": group, "change": "promoted", "participants": [own], "by": ANA},
    )
    await _events(admin, sid, "group.participants", 2)
    allowed = await admin.patch(f"/v1/sessions/{sid}/groups/{group}", json={"locked": True})
    assert allowed.status_code == 200, allowed.text


async def test_bad_group_requests_are_clear_errors(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    base = f"/v1/sessions/{sid}/groups"
    assert (await admin.post(base, json={"subject": ""})).status_code == 422
    person_as_group = await admin.get(f"{base}/{ANA}")
    assert person_as_group.json()["error"]["code"] == "invalid_destination"
    group_as_person = await admin.post(
        base, json={"subject": "x", "participants": ["120363000000000042@g.us"]}
    )
    assert group_as_person.json()["error"]["code"] == "invalid_destination"
    nothing = await admin.patch(f"{base}/120363000000000042@g.us", json={})
    assert nothing.status_code == 422
    unknown = await admin.get(f"{base}/120363000000000099@g.us")
    assert unknown.json()["error"]["code"] == "group_not_found"
