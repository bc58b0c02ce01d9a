"""The Evolution API v2 surface under /evolution (issue 17, first part), on the simulator
and both databases: an Evolution client's calls with Evolution's shapes, backed by
wagate's sessions and queue."""

from __future__ import annotations

import base64

import httpx

from tests.api.helpers import wait_sent, wait_status
from tests.support.server import ADMIN_KEY, RunningServer, eventually

KEY = {"apikey": ADMIN_KEY}
TO = "5511988887777"


async def _evolution(server: RunningServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{server.base_url}/evolution", headers=KEY, timeout=10)


async def _state(evo: httpx.AsyncClient, name: str) -> str:
    answer = await evo.get(f"/instance/connectionState/{name}")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["instance"]["state"])


async def test_an_instance_is_created_connected_used_and_logged_out(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    async with await _evolution(server) as evo:
        created = await evo.post("/instance/create", json={"instanceName": "shop", "qrcode": True})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["instance"]["instanceName"] == "shop"
        assert body["instance"]["integration"] == "WHATSAPP-BAILEYS"
        sid = body["instance"]["instanceId"]
        assert (await admin.get(f"/v1/sessions/{sid}")).json()["name"] == "shop"

        async def qr() -> dict[str, object]:
            answer = (await evo.get("/instance/connect/shop")).json()
            assert answer["code"], answer
            return dict(answer)

        login = await eventually(qr)
        assert str(login["base64"]).startswith("data:image/png;base64,")
        assert await _state(evo, "shop") == "connecting"
        await admin.post(f"/v1/simulator/{sid}/scan")

        async def opened() -> bool:
            assert await _state(evo, "shop") == "open"
            return True

        await eventually(opened)
        assert (await evo.get("/instance/connect/shop")).json() == {
            "instance": {"instanceName": "shop", "state": "open"}
        }

        sent = await evo.post(
            "/message/sendText/shop", json={"number": TO, "text": "oi", "delay": 0}
        )
        assert sent.status_code == 201, sent.text
        key = sent.json()["key"]
        assert (key["remoteJid"], key["fromMe"]) == (f"{TO}@s.whatsapp.net", True)
        assert sent.json()["message"] == {"conversation": "oi"}
        page = (await admin.get(f"/v1/sessions/{sid}/messages")).json()["items"]
        await wait_sent(admin, page[0]["id"])
        assert [(r.wa_message_id, r.text) for r in server.network.sent(sid)] == [(key["id"], "oi")]

        numbers = await evo.post(
            "/chat/whatsappNumbers/shop", json={"numbers": [f"+{TO}", "09990000000"]}
        )
        assert numbers.json() == [
            {"exists": True, "jid": f"{TO}@s.whatsapp.net", "number": TO},
            {"exists": False, "jid": "09990000000@s.whatsapp.net", "number": "09990000000"},
        ]

        logged_out = await evo.delete("/instance/logout/shop")
        assert logged_out.json()["status"] == "SUCCESS"

        async def closed() -> bool:
            assert await _state(evo, "shop") == "close"
            return True

        await eventually(closed)


async def test_errors_come_in_evolutions_shape(server: RunningServer) -> None:
    async with await _evolution(server) as evo:
        missing = await evo.get("/instance/connectionState/nope")
        assert missing.status_code == 404
        assert missing.json() == {
            "status": 404,
            "error": "Not Found",
            "response": {"message": ['The "nope" instance does not exist']},
        }
        bad = await evo.post("/instance/create", json={"instanceName": "bad name!"})
        assert bad.status_code == 400
        assert bad.json()["error"] == "Bad Request"
        await evo.post("/instance/create", json={"instanceName": "dup"})
        again = await evo.post("/instance/create", json={"instanceName": "dup"})
        assert again.status_code == 409
        assert again.json()["status"] == 409
    async with httpx.AsyncClient(base_url=f"{server.base_url}/evolution") as anonymous:
        refused = await anonymous.get("/instance/connectionState/dup")
        assert refused.status_code == 401
        assert refused.json()["error"] == "Unauthorized"
        wrong = await anonymous.get(
            "/instance/connectionState/dup", headers={"apikey": "not-a-key"}
        )
        assert wrong.status_code == 401


async def test_media_instances_listed_and_an_instance_deleted(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    async with await _evolution(server) as evo:
        sid = (await evo.post("/instance/create", json={"instanceName": "media"})).json()[
            "instance"
        ]["instanceId"]
        await wait_status(admin, sid, "qr")
        await admin.post(f"/v1/simulator/{sid}/scan")
        await wait_status(admin, sid, "connected")

        photo = base64.b64encode(b"\xff\xd8\xff\xe0 a photo").decode()
        sent = await evo.post(
            "/message/sendMedia/media",
            json={
                "number": TO,
                "mediatype": "image",
                "mimetype": "image/jpeg",
                "caption": "the menu",
                "media": photo,
                "fileName": "menu.jpg",
            },
        )
        assert sent.status_code == 201, sent.text
        assert sent.json()["messageType"] == "imageMessage"
        assert sent.json()["message"]["imageMessage"]["caption"] == "the menu"
        page = (await admin.get(f"/v1/sessions/{sid}/messages")).json()["items"]
        await wait_sent(admin, page[0]["id"])
        assert [(r.type, r.text) for r in server.network.sent(sid)] == [("image", "the menu")]
        not_a_type = await evo.post(
            "/message/sendMedia/media", json={"number": TO, "mediatype": "gif", "media": photo}
        )
        assert not_a_type.status_code == 400

        listed = (
            await evo.get("/instance/fetchInstances", params={"instanceName": "media"})
        ).json()
        assert [(i["name"], i["connectionStatus"], i["integration"]) for i in listed] == [
            ("media", "open", "WHATSAPP-BAILEYS")
        ]
        assert listed[0]["ownerJid"].endswith("@s.whatsapp.net")

        deleted = await evo.delete("/instance/delete/media")
        assert deleted.json()["status"] == "SUCCESS"
        assert (await evo.get("/instance/connectionState/media")).status_code == 404
