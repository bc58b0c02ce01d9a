"""The contacts list, the session's own profile, contacts' profiles and blocking, on the
simulator and both databases."""

from __future__ import annotations

import base64

import httpx

from tests.api.helpers import connected_session, find_inbound, inbound, send, wait_message
from tests.support.server import RunningServer

PEOPLE = [("5511911110001", "Ana Souza"), ("5511911110002", "Bia Lima"), ("5521933330003", "Caio")]
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


async def test_the_contacts_list_shows_who_the_session_met_and_is_searchable(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    for phone, name in PEOPLE:
        await find_inbound(
            admin, sid, await inbound(admin, sid, **{"from": phone, "text": "hi"}, push_name=name)
        )
    everyone = (await admin.get(f"/v1/sessions/{sid}/contacts")).json()
    assert [(c["phone"], c["name"]) for c in everyone["items"]] == PEOPLE
    assert everyone["items"][0]["jid"] == "5511911110001@s.whatsapp.net"
    assert everyone["next_cursor"] is None

    async def search(q: str) -> list[str]:
        page = (await admin.get(f"/v1/sessions/{sid}/contacts", params={"q": q})).json()
        return [c["name"] for c in page["items"]]

    assert await search("bia") == ["Bia Lima"]
    assert await search("SOUZA") == ["Ana Souza"]
    assert await search("+55 11") == ["Ana Souza", "Bia Lima"]
    assert await search("21933") == ["Caio"]
    assert await search("a%_") == []  # wildcards are taken literally

    first = (await admin.get(f"/v1/sessions/{sid}/contacts", params={"limit": 2})).json()
    assert len(first["items"]) == 2
    rest = await admin.get(
        f"/v1/sessions/{sid}/contacts", params={"limit": 2, "cursor": first["next_cursor"]}
    )
    assert [c["name"] for c in rest.json()["items"]] == ["Caio"]
    assert rest.json()["next_cursor"] is None


async def test_the_sessions_own_profile(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    own = (await admin.get(f"/v1/sessions/{sid}/profile")).json()
    assert own["phone"] == session["phone"]
    assert own["name"] == session["push_name"]
    assert own["picture_url"] is None

    changed = await admin.patch(
        f"/v1/sessions/{sid}/profile", json={"name": "Acme Support", "about": "9-18h"}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["about"]) == ("Acme Support", "9-18h")
    pictured = await admin.put(
        f"/v1/sessions/{sid}/profile/picture", json={"base64": base64.b64encode(JPEG).decode()}
    )
    assert pictured.json()["picture_url"].endswith(".jpg")
    assert (await admin.patch(f"/v1/sessions/{sid}/profile", json={})).status_code == 422
    long_name = await admin.patch(f"/v1/sessions/{sid}/profile", json={"name": "x" * 26})
    assert long_name.status_code == 422
    not_jpeg = await admin.put(
        f"/v1/sessions/{sid}/profile/picture", json={"base64": base64.b64encode(b"PNG").decode()}
    )
    assert not_jpeg.json()["error"]["code"] == "invalid_media"


async def test_a_contacts_profile_and_blocking_them(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    phone = server.network.phone(sid).contacts[0].phone  # someone in the phone's address book
    profile = (await admin.get(f"/v1/sessions/{sid}/contacts/{phone}/profile")).json()
    assert profile == {
        "jid": f"{phone}@s.whatsapp.net",
        "about": "Available",
        "picture_url": profile["picture_url"],
    }
    stranger = (await admin.get(f"/v1/sessions/{sid}/contacts/5511977776666/profile")).json()
    assert stranger["about"] is None  # their privacy shows it to their contacts only
    nobody = await admin.get(f"/v1/sessions/{sid}/contacts/09990000000/profile")
    assert nobody.status_code == 404
    assert nobody.json()["error"]["code"] == "not_on_whatsapp"

    blocked = await admin.post(f"/v1/sessions/{sid}/contacts/+{phone}/block")
    assert blocked.json() == {"jid": f"{phone}@s.whatsapp.net", "blocked": True}
    [shown] = (await admin.get(f"/v1/sessions/{sid}/contacts", params={"q": phone})).json()["items"]
    assert shown["blocked"] is True
    refused = await send(admin, sid, to=phone, text="hello?", humanize=False)
    assert (await wait_message(admin, refused["id"], "failed"))["error"][
        "code"
    ] == "contact_blocked"

    await admin.post(f"/v1/sessions/{sid}/contacts/{phone}/unblock")
    [shown] = (await admin.get(f"/v1/sessions/{sid}/contacts", params={"q": phone})).json()["items"]
    assert shown["blocked"] is False
    delivered = await send(admin, sid, to=phone, text="hello again", humanize=False)
    await wait_message(admin, delivered["id"], "sent")
