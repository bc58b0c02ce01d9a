"""Evolution's per-instance webhook under /evolution (issue 17): ``webhook/set`` and
``webhook/find``, and events posted in Evolution API v2's shapes, on both databases.

The bodies are compared with golden files (``tests/api/golden/evolution/``), with the
values that change from run to run (ids, times, the QR image) replaced by their names.
``WAGATE_UPDATE_GOLDEN=1`` rewrites the files from a run; review the diff before
committing it.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.api.goldens import check_golden
from tests.api.helpers import inbound, wait_sent
from tests.events.support import Receiver
from tests.support.server import ADMIN_KEY, RunningServer, eventually

KEY = {"apikey": ADMIN_KEY}
TO = "5511988887777"


async def _evolution(server: RunningServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{server.base_url}/evolution", headers=KEY, timeout=10)


async def _connected_instance(evo: httpx.AsyncClient, admin: httpx.AsyncClient, name: str) -> str:
    created = await evo.post("/instance/create", json={"instanceName": name})
    assert created.status_code == 201, created.text
    sid = str(created.json()["instance"]["instanceId"])

    async def waiting() -> bool:
        assert (await admin.get(f"/v1/sessions/{sid}")).json()["status"] == "qr"
        return True

    await eventually(waiting)
    return sid


async def _scan(evo: httpx.AsyncClient, admin: httpx.AsyncClient, sid: str, name: str) -> None:
    scanned = await admin.post(f"/v1/simulator/{sid}/scan")
    assert scanned.status_code == 202, scanned.text

    async def opened() -> bool:
        answer = await evo.get(f"/instance/connectionState/{name}")
        assert answer.json()["instance"]["state"] == "open"
        return True

    await eventually(opened)


def _by_event(receiver: Receiver, event: str) -> list[dict[str, Any]]:
    return [body for body in receiver.bodies() if body.get("event") == event]


async def _one(receiver: Receiver, event: str, **match: Any) -> dict[str, Any]:
    """The first body of ``event`` whose ``data`` has ``match``'s values (waits for it)."""

    async def found() -> dict[str, Any]:
        for body in _by_event(receiver, event):
            data = body["data"]
            if all(data.get(k) == v for k, v in match.items()):
                return body
        raise AssertionError(f"no {event} with {match} in {receiver.bodies()}")

    result: dict[str, Any] = await eventually(found)
    return result


async def test_webhook_set_find_and_events_in_evolution_shapes(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    async with await _evolution(server) as evo:
        assert (await evo.post("/instance/create", json={"instanceName": "none"})).is_success
        assert (await evo.get("/webhook/find/none")).json() is None

        events = [
            "QRCODE_UPDATED",
            "CONNECTION_UPDATE",
            "MESSAGES_UPSERT",
            "SEND_MESSAGE",
            "MESSAGES_UPDATE",
        ]
        hook = {"url": receiver.url, "events": events, "headers": {"x-shop": "s3cret"}}
        created = await evo.post(  # the webhook is set before the instance starts
            "/instance/create", json={"instanceName": "shop", "webhook": hook}
        )
        assert created.status_code == 201, created.text
        sid = created.json()["instance"]["instanceId"]
        token = created.json()["hash"]
        answer = await evo.post("/webhook/set/shop", json={"webhook": {"enabled": True, **hook}})
        assert answer.status_code == 201, answer.text
        view = answer.json()
        assert view["events"] == events
        assert (view["enabled"], view["webhookByEvents"], view["webhookBase64"]) == (
            True,
            False,
            False,
        )
        assert view["instanceId"] == sid
        assert view["headers"] == {"x-shop": "<hidden>"}  # set once, never shown again
        assert (await evo.get("/webhook/find/shop")).json() == view
        listed = (await admin.get("/v1/webhooks")).json()["items"]
        assert [(w["format"], w["session_id"]) for w in listed] == [("evolution", sid)]

        # the instance's first QR code, then the scan
        qr = await _one(receiver, "qrcode.updated")
        assert qr["data"]["qrcode"]["base64"].startswith("data:image/png;base64,")
        check_golden("evolution", "qrcode_updated", qr)
        await _scan(evo, admin, sid, "shop")
        opened = await _one(receiver, "connection.update", state="open")
        check_golden("evolution", "connection_update_open", opened)

        wa_id = await inbound(admin, sid, **{"from": TO, "text": "oi", "push_name": "Ana"})
        upsert = await _one(receiver, "messages.upsert")
        assert upsert["data"]["key"]["id"] == wa_id
        check_golden("evolution", "messages_upsert_text", upsert)

        sent = await evo.post(
            "/message/sendText/shop",
            json={"number": TO, "text": "hello", "delay": 0, "quoted": {"key": {"id": wa_id}}},
        )
        assert sent.status_code == 201, sent.text
        page = (await admin.get(f"/v1/sessions/{sid}/messages?direction=out")).json()["items"]
        message = await wait_sent(admin, page[0]["id"])
        send = await _one(receiver, "send.message")
        assert send["data"]["key"]["id"] == message["wa_message_id"]
        check_golden("evolution", "send_message_reply", send)
        await admin.post(
            f"/v1/simulator/{sid}/receipt",
            json={"wa_message_id": message["wa_message_id"], "status": "read"},
        )
        read = await _one(receiver, "messages.update", status="READ")
        assert read["data"]["keyId"] == message["wa_message_id"]
        check_golden("evolution", "messages_update_read", read)

        # every body is Evolution's envelope, and carries the operator's header
        phone = (await admin.get(f"/v1/sessions/{sid}")).json()["phone"]
        for got in receiver.received:
            assert got.headers["x-shop"] == "s3cret"
            assert got.path == "/hook"
            assert got.json["instance"] == "shop"
            assert got.json["apikey"] == token  # what a workflow calls back with
            if got.json["event"] not in ("qrcode.updated", "connection.update"):  # login first
                assert got.json["sender"] == f"{phone}@s.whatsapp.net"
        assert {body["event"] for body in receiver.bodies()} <= {
            "qrcode.updated",
            "connection.update",
            "messages.upsert",
            "send.message",
            "messages.update",
        }


async def test_by_events_and_base64_put_each_event_on_its_path_with_the_file(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    async with await _evolution(server) as evo:
        sid = await _connected_instance(evo, admin, "media")
        await _scan(evo, admin, sid, "media")
        answer = await evo.post(  # v2.0's flat body, with the n8n node's option names
            "/webhook/set/media",
            json={
                "enabled": True,
                "url": receiver.url,
                "webhookByEvents": True,
                "webhookBase64": True,
                "events": ["MESSAGES_UPSERT"],
            },
        )
        assert answer.status_code == 201, answer.text
        assert (answer.json()["webhookByEvents"], answer.json()["webhookBase64"]) == (True, True)
        picture = b"\x89PNG a picture"
        await inbound(
            admin,
            sid,
            **{
                "from": TO,
                "type": "image",
                "media": {
                    "base64": base64.b64encode(picture).decode(),
                    "mime_type": "image/png",
                    "caption": "look",
                },
            },
        )
        upsert = await _one(receiver, "messages.upsert")
        assert [r.path for r in receiver.received] == ["/hook/messages-upsert"]
        message = upsert["data"]["message"]
        assert base64.b64decode(message["base64"]) == picture
        assert message["imageMessage"]["caption"] == "look"
        link = message["imageMessage"]["url"]
        assert link.startswith("/v1/media/")  # absolute with WAGATE_PUBLIC_URL set
        async with httpx.AsyncClient(base_url=server.base_url) as anyone:  # signed: no key
            assert (await anyone.get(link)).content == picture
        check_golden("evolution", "messages_upsert_image_base64", upsert)


async def test_a_disabled_webhook_drops_events_until_enabled_again(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    async with await _evolution(server) as evo:
        sid = await _connected_instance(evo, admin, "quiet")
        await _scan(evo, admin, sid, "quiet")
        hook = {"url": receiver.url, "events": ["MESSAGES_UPSERT"]}
        off = await evo.post("/webhook/set/quiet", json={"webhook": {"enabled": False, **hook}})
        assert off.status_code == 201, off.text
        assert off.json()["enabled"] is False
        assert off.json()["events"] == []  # as Evolution stores a disabled webhook
        while_off = await inbound(admin, sid, **{"from": TO, "text": "while off"})
        await eventually(lambda: _stored(admin, sid, while_off))
        on = await evo.post("/webhook/set/quiet", json={"webhook": {"enabled": True, **hook}})
        assert on.json()["enabled"] is True
        after = await inbound(admin, sid, **{"from": TO, "text": "after"})
        got = await _one(receiver, "messages.upsert")
        # delivery is in log order: had the first been kept, it would have come first
        assert [b["data"]["key"]["id"] for b in receiver.bodies()] == [after]
        assert got["data"]["message"] == {"conversation": "after"}


async def _stored(admin: httpx.AsyncClient, sid: str, wa_id: str) -> bool:
    page = (await admin.get(f"/v1/sessions/{sid}/messages?direction=in")).json()["items"]
    assert wa_id in [m["wa_message_id"] for m in page]
    return True


async def test_bad_webhook_bodies_get_evolutions_errors(server: RunningServer) -> None:
    async with await _evolution(server) as evo:
        assert (await evo.post("/instance/create", json={"instanceName": "bad"})).is_success
        unknown = await evo.post(
            "/webhook/set/bad",
            json={"webhook": {"enabled": True, "url": "http://127.0.0.1:9/x", "events": ["NOPE"]}},
        )
        assert unknown.status_code == 400
        assert unknown.json()["error"] == "Bad Request"
        assert "NOPE" in unknown.json()["response"]["message"][0]
        placeholder = await evo.post(  # the n8n node sends "vazio" for an empty URL
            "/webhook/set/bad", json={"webhook": {"enabled": True, "url": "vazio"}}
        )
        assert placeholder.status_code == 422
        assert placeholder.json()["response"]["message"] == ['Invalid "url" property']
        missing = await evo.post(
            "/webhook/set/nobody", json={"webhook": {"enabled": True, "url": "http://x.example"}}
        )
        assert missing.status_code == 404
        assert (await evo.get("/webhook/find/bad")).json() is None
