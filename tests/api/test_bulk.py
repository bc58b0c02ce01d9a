"""POST /v1/sessions/{id}/messages/bulk: many messages, each accepted or refused on its own."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import (
    connected_session,
    create_session,
    find_inbound,
    inbound,
    wait_message,
)
from tests.support.server import RunningServer, eventually
from wagate.store.repositories import contacts


def _phone(i: int) -> str:
    return f"55119{i:08d}"


async def _bulk(client: httpx.AsyncClient, session_id: str, items: list[Any]) -> httpx.Response:
    return await client.post(f"/v1/sessions/{session_id}/messages/bulk", json={"messages": items})


async def test_every_item_is_judged_on_its_own(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    async with server.services.db.transaction() as tx:
        contact = await contacts.remember_contact(
            tx, sid, phone=_phone(9), lid=None, push_name=None, now=server.clock.now()
        )
        assert contact is not None
        contact.opted_out_at = server.clock.now()
    items: list[Any] = [
        {"to": _phone(1), "text": "hello 1"},
        {"to": _phone(2), "type": "text"},  # no text
        {"to": "not a number", "text": "x"},
        {"to": _phone(1), "text": "hello 1"},  # duplicate of item 0
        {"to": _phone(9), "text": "deal"},  # opted out
        {"to": _phone(3), "text": "hello 3", "idempotency_key": "row-6"},
        "not an object",
        {"to": _phone(4), "text": "x", "reply_to": "msg_doesnotexist"},
        {"to": _phone(5), "text": "hello 5", "unknown_field": 1},
        {"to": _phone(6), "text": "hello 6", "idempotency_key": 42},
        {"to": _phone(7), "text": "hello 7", "ttl_s": 3600},
    ]
    response = await _bulk(admin, sid, items)
    assert response.status_code == 200, response.text
    body = response.json()
    outcome = [
        (item["index"], item["status"], (item["error"] or {}).get("code")) for item in body["items"]
    ]
    assert outcome == [
        (0, 202, None),
        (1, 422, "validation_error"),
        (2, 422, "invalid_destination"),
        (3, 409, "duplicate_message"),
        (4, 422, "recipient_opted_out"),
        (5, 202, None),
        (6, 422, "validation_error"),
        (7, 422, "unknown_message"),
        (8, 422, "validation_error"),
        (9, 422, "validation_error"),
        (10, 202, None),
    ]
    assert (body["accepted"], body["rejected"]) == (3, 8)
    accepted = [item["message"] for item in body["items"] if item["status"] == 202]
    assert all(m["status"] == "queued" for m in accepted)
    assert all(item["message"] is None for item in body["items"] if item["status"] != 202)
    assert accepted[0]["id"] in body["items"][3]["error"]["message"]
    for message in accepted:
        await wait_message(admin, message["id"], "sent")
    sent = server.network.sent(sid)
    assert sorted(r.message_id for r in sent) == sorted(m["id"] for m in accepted)
    metrics = (await admin.get("/metrics")).text
    assert 'wagate_errors_total{code="validation_error"} 4.0' in metrics
    assert 'wagate_errors_total{code="duplicate_message"} 1.0' in metrics


async def test_keys_make_a_bulk_safe_to_repeat(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await create_session(admin, "bulk", start=False))["id"]
    items = [
        {"to": _phone(i), "text": f"invoice {i}", "idempotency_key": f"inv-{i}"} for i in range(5)
    ]
    first = (await _bulk(admin, sid, items)).json()
    assert first["accepted"] == 5
    assert not any(item["replayed"] for item in first["items"])
    again = (await _bulk(admin, sid, items)).json()
    assert again["accepted"] == 5
    assert all(item["replayed"] for item in again["items"])
    assert [i["message"]["id"] for i in again["items"]] == [
        i["message"]["id"] for i in first["items"]
    ]
    changed = [{**items[0], "text": "other"}, items[1]]
    mixed = (await _bulk(admin, sid, changed)).json()
    assert [(i["status"], (i["error"] or {}).get("code")) for i in mixed["items"]] == [
        (422, "idempotency_key_reused"),
        (202, None),
    ]
    single = await admin.post(
        f"/v1/sessions/{sid}/messages",
        json={"to": _phone(2), "text": "invoice 2"},
        headers={"Idempotency-Key": "inv-2"},
    )
    assert single.headers["idempotent-replayed"] == "true"
    assert single.json()["id"] == first["items"][2]["message"]["id"]
    listed = (await admin.get(f"/v1/sessions/{sid}/messages")).json()["items"]
    assert len(listed) == 5


async def test_one_key_twice_in_one_bulk(server: RunningServer, admin: httpx.AsyncClient) -> None:
    sid = (await create_session(admin, "bulk", start=False))["id"]
    item = {"to": _phone(1), "text": "once", "idempotency_key": "k"}
    body = (await _bulk(admin, sid, [item, item])).json()
    assert [i["status"] for i in body["items"]] == [202, 202]
    assert body["items"][1]["replayed"] is True
    assert body["items"][0]["message"]["id"] == body["items"][1]["message"]["id"]


async def test_order_within_a_chat_is_kept(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    items = [{"to": _phone(1), "text": f"part {i}"} for i in range(3)]
    items += [{"to": _phone(2), "text": f"part {i}"} for i in range(3)]
    body = (await _bulk(admin, session["id"], items)).json()
    ids = [i["message"]["id"] for i in body["items"]]

    async def all_sent() -> bool:
        return len(server.network.sent(session["id"])) == 6

    await eventually(all_sent)
    sent = server.network.sent(session["id"])
    for chat in (_phone(1), _phone(2)):
        in_chat = [r.message_id for r in sent if r.to.startswith(chat)]
        assert in_chat == [i for i, item in zip(ids, items, strict=True) if item["to"] == chat]


async def test_limits_and_errors_of_the_whole_request(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await create_session(admin, "bulk", start=False))["id"]
    empty = await _bulk(admin, sid, [])
    assert empty.status_code == 422
    assert empty.json()["error"]["code"] == "validation_error"
    too_many = await _bulk(admin, sid, [{"to": _phone(1), "text": "x"}] * 1001)
    assert too_many.status_code == 422
    not_a_list = await admin.post(f"/v1/sessions/{sid}/messages/bulk", json={"messages": {}})
    assert not_a_list.status_code == 422
    missing = await _bulk(admin, "nope", [{"to": _phone(1), "text": "x"}])
    assert missing.status_code == 404
    async with server.client(None) as nobody:
        anonymous = await _bulk(nobody, sid, [{"to": _phone(1), "text": "x"}])
    assert anonymous.status_code == 401


async def test_a_thousand_items(server: RunningServer, admin: httpx.AsyncClient) -> None:
    sid = (await create_session(admin, "bulk", start=False))["id"]
    items = [{"to": _phone(i), "text": f"campaign {i}"} for i in range(1000)]
    response = await admin.post(
        f"/v1/sessions/{sid}/messages/bulk", json={"messages": items}, timeout=120
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 1000


async def test_a_tenant_cannot_bulk_into_another_tenants_session(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await create_session(admin, "bulk", start=False))["id"]
    tenant = await admin.post("/v1/admin/tenants", json={"name": "other"})
    assert tenant.status_code == 201, tenant.text
    key = await admin.post(f"/v1/admin/tenants/{tenant.json()['id']}/keys", json={"name": "k"})
    assert key.status_code == 201, key.text
    async with server.client(key.json()["key"]) as other:
        response = await _bulk(other, sid, [{"to": _phone(1), "text": "x"}])
    assert response.status_code == 404


async def test_an_inbound_stop_refuses_that_recipient_in_a_bulk(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    wa_id = await inbound(admin, sid, **{"from": _phone(1), "text": "STOP"})
    await find_inbound(admin, sid, wa_id)
    items = [{"to": _phone(i), "text": "weekly offers"} for i in (1, 2)]
    body = (await _bulk(admin, sid, items)).json()
    assert [(i["status"], (i["error"] or {}).get("code")) for i in body["items"]] == [
        (422, "recipient_opted_out"),
        (202, None),
    ]
