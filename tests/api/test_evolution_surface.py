"""The Evolution API v2 surface under /evolution (issue 17, first part), on the simulator
and both databases: an Evolution client's calls with Evolution's shapes, backed by
wagate's sessions and queue."""

from __future__ import annotations

import base64
import uuid

import httpx

from tests.api.helpers import (
    SENT_OR_LATER,
    advance_until,
    find_inbound,
    inbound,
    wait_sent,
    wait_status,
)
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


async def _open_instance(
    server: RunningServer, admin: httpx.AsyncClient, evo: httpx.AsyncClient, name: str
) -> str:
    created = await evo.post("/instance/create", json={"instanceName": name})
    sid = str(created.json()["instance"]["instanceId"])
    await wait_status(admin, sid, "qr")
    await admin.post(f"/v1/simulator/{sid}/scan")
    await wait_status(admin, sid, "connected")
    return sid


async def test_every_kind_of_send_is_queued_and_reaches_whatsapp(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    async with await _evolution(server) as evo:
        sid = await _open_instance(server, admin, evo, "sends")
        hi = await evo.post("/message/sendText/sends", json={"number": TO, "text": "hi"})
        target = hi.json()["key"]["id"]
        sends = {
            "sendWhatsAppAudio": {"number": TO, "audio": "T2dnUw" * 10},
            "sendLocation": {
                "number": TO,
                "latitude": -23.55,
                "longitude": -46.63,
                "name": "Sé",
                "address": "São Paulo",
                "quoted": {"key": {"id": target}},
            },
            "sendContact": {
                "number": TO,
                "contact": [{"fullName": "Bruno", "wuid": "5511977776666", "organization": "X"}],
            },
            "sendReaction": {
                "key": {"remoteJid": f"{TO}@s.whatsapp.net", "fromMe": True, "id": target},
                "reaction": "👍",
            },
            "sendPoll": {
                "number": TO,
                "name": "Lunch?",
                "selectableCount": 1,
                "values": ["a", "b"],
            },
        }
        kinds = {}
        for route, body in sends.items():
            answer = await evo.post(f"/message/{route}/sends", json=body)
            assert answer.status_code == 201, (route, answer.text)
            kinds[route] = answer.json()["messageType"]
        assert kinds == {
            "sendWhatsAppAudio": "audioMessage",
            "sendLocation": "locationMessage",
            "sendContact": "contactMessage",
            "sendReaction": "reactionMessage",
            "sendPoll": "pollCreationMessageV3",
        }

        page = (await admin.get(f"/v1/sessions/{sid}/messages?direction=out")).json()["items"]
        # six sends to one person in a row: the burst guardrail spaces the last ones out
        await advance_until(server, admin, page[0]["id"], SENT_OR_LATER, step=10)
        assert [r.type for r in server.network.sent(sid)] == [
            "text",
            "voice",
            "location",
            "contact",
            "reaction",
            "poll",
        ]
        page = (await admin.get(f"/v1/sessions/{sid}/messages?direction=out")).json()["items"]
        by_type = {m["type"]: m for m in page}
        assert by_type["location"]["reply_to"] == target
        assert by_type["reaction"]["reaction"]["emoji"] == "👍"
        assert by_type["contact"]["contacts"] == [{"name": "Bruno", "phone": "5511977776666"}]

        two = await evo.post(
            "/message/sendContact/sends",
            json={"number": TO, "contact": [{"fullName": "A", "wuid": "1"}] * 2},
        )
        assert two.status_code == 400  # one card per message here
        empty = await evo.post("/message/sendPoll/sends", json={"number": TO, "name": "?"})
        assert empty.status_code == 400
        assert empty.json()["error"] == "Bad Request"


async def test_read_presence_and_find_messages(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    async with await _evolution(server) as evo:
        sid = await _open_instance(server, admin, evo, "chat")
        first = await inbound(admin, sid, **{"from": TO, "text": "one"})
        second = await inbound(admin, sid, **{"from": TO, "text": "two"})
        await inbound(admin, sid, **{"from": "5511977776666", "text": "other chat"})
        await find_inbound(admin, sid, second)
        sent = await evo.post("/message/sendText/chat", json={"number": TO, "text": "three"})
        assert sent.status_code == 201

        read = await evo.post(
            "/chat/markMessageAsRead/chat",
            json={
                "readMessages": [
                    {"remoteJid": f"{TO}@s.whatsapp.net", "fromMe": False, "id": first},
                    {"remoteJid": f"{TO}@s.whatsapp.net", "fromMe": False, "id": second},
                ]
            },
        )
        assert read.status_code == 201, read.text
        assert read.json() == {"message": "Read messages", "read": "success"}
        assert server.network.read_log(sid)[-1].wa_message_ids == (first, second)

        typing = await evo.post(
            "/chat/sendPresence/chat", json={"number": TO, "presence": "composing", "delay": 1200}
        )
        assert typing.status_code == 201, typing.text
        assert server.network.presence_log(sid)[-1].state.value == "composing"

        found = await evo.post(
            "/chat/findMessages/chat",
            json={"where": {"key": {"remoteJid": f"{TO}@s.whatsapp.net"}}, "page": 1, "offset": 2},
        )
        assert found.status_code == 200, found.text
        pages = found.json()["messages"]
        assert (pages["total"], pages["pages"], pages["currentPage"]) == (3, 2, 1)
        texts = [r["message"]["conversation"] for r in pages["records"]]
        assert texts == ["three", "two"]  # newest first
        assert pages["records"][0]["key"]["fromMe"] is True
        theirs = await evo.post(
            "/chat/findMessages/chat",
            json={"where": {"key": {"remoteJid": TO, "fromMe": False}}, "page": 2, "offset": 1},
        )
        assert [r["key"]["id"] for r in theirs.json()["messages"]["records"]] == [first]
        one = await evo.post("/chat/findMessages/chat", json={"where": {"key": {"id": second}}})
        assert [r["key"]["id"] for r in one.json()["messages"]["records"]] == [second]


async def test_an_instance_token_opens_its_instance_and_nothing_else(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    async with await _evolution(server) as evo:
        mine = await evo.post(
            "/instance/create", json={"instanceName": "mine", "token": "my-instance-token-1"}
        )
        assert mine.status_code == 201, mine.text
        assert mine.json()["hash"] == "my-instance-token-1"
        other = await evo.post("/instance/create", json={"instanceName": "other"})
        generated = other.json()["hash"]
        assert str(uuid.UUID(generated)).upper() == generated  # a UUID, as Evolution makes
        taken = await evo.post(
            "/instance/create", json={"instanceName": "third", "token": "my-instance-token-1"}
        )
        assert taken.status_code == 409
        assert [i["name"] for i in (await evo.get("/instance/fetchInstances")).json()] == [
            "mine",
            "other",
        ]
        listed = {i["name"]: i["token"] for i in (await evo.get("/instance/fetchInstances")).json()}
        assert listed == {"mine": "my-instance-token-1", "other": generated}

    own = httpx.AsyncClient(
        base_url=f"{server.base_url}/evolution",
        headers={"apikey": "my-instance-token-1"},
        timeout=10,
    )
    async with own:
        state = await own.get("/instance/connectionState/mine")
        assert state.status_code == 200, state.text
        assert (await own.get("/instance/connectionState/other")).status_code == 401
        assert (await own.post("/message/sendText/other", json={"number": TO, "text": "x"})).json()[
            "status"
        ] == 401
        assert [i["name"] for i in (await own.get("/instance/fetchInstances")).json()] == ["mine"]
        refused = await own.post("/instance/create", json={"instanceName": "more"})
        assert refused.status_code == 403
        assert refused.json()["response"]["message"] == [
            "an instance token cannot create instances: use the global apikey"
        ]
    async with server.client("my-instance-token-1") as v1:  # not a key of wagate's own API
        assert (await v1.get("/v1/sessions")).status_code == 401

    async with await _evolution(server) as evo:
        assert (await evo.delete("/instance/delete/mine")).status_code == 200

    async def token_gone() -> bool:  # the token went with its instance
        async with httpx.AsyncClient(
            base_url=f"{server.base_url}/evolution", headers={"apikey": "my-instance-token-1"}
        ) as gone:
            assert (await gone.get("/instance/fetchInstances")).status_code == 401
        return True

    await eventually(token_gone)


async def test_what_is_not_served_is_evolutions_404(server: RunningServer) -> None:
    async with await _evolution(server) as evo:
        for method, path in (("POST", "/group/create/x"), ("GET", "/settings/find/x")):
            answer = await evo.request(method, path)
            assert answer.status_code == 404
            assert answer.json() == {
                "status": 404,
                "error": "Not Found",
                "response": {"message": [f"Cannot {method} {path}"]},
            }
