"""Requests that arrive together commit together, with the answers they would get alone.

Each test sends its requests concurrently, so they land in the same
group-commit batch (the writer takes whatever is waiting), and checks both
the answers and that the database saw far fewer commits than requests.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select

from tests.api.helpers import connected_session, create_session, inbound, wait_message
from tests.support.server import RunningServer
from wagate.store.models import Contact, Event, Message

CONTACT = "5511988887777"


async def _idle_session(client: httpx.AsyncClient, name: str = "batched") -> str:
    return str((await create_session(client, name, start=False))["id"])


async def _post(
    client: httpx.AsyncClient, session_id: str, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post(f"/v1/sessions/{session_id}/messages", json=body, headers=headers)


async def _count(server: RunningServer, *where: Any, model: Any = Message) -> int:
    async with server.services.db.read() as tx:
        query = select(func.count()).select_from(model)
        for clause in where:
            query = query.where(clause)
        return int((await tx.execute(query)).scalar_one())


async def test_a_burst_of_sends_takes_a_few_commits(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await _idle_session(admin)
    db = server.services.db
    commits = db.commits
    bodies = [{"to": f"55119888{i:05}", "text": f"burst {i}"} for i in range(60)]
    answers = await asyncio.gather(*(_post(admin, sid, body) for body in bodies))
    assert [a.status_code for a in answers] == [202] * 60
    assert len({a.json()["id"] for a in answers}) == 60
    assert await _count(server, Message.session_id == sid) == 60
    assert db.commits - commits < 30  # one commit per request would be 60
    assert db.batches.stats.ops_by_kind["accept"] >= 60


async def test_duplicates_within_one_batch_are_refused_like_one_at_a_time(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await _idle_session(admin)
    body = {"to": CONTACT, "text": "your code is 4321"}
    answers = await asyncio.gather(*(_post(admin, sid, body) for _ in range(8)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [202] + [409] * 7
    accepted = next(a for a in answers if a.status_code == 202).json()
    for refused in (a for a in answers if a.status_code == 409):
        error = refused.json()["error"]
        assert error["code"] == "duplicate_message"
        assert accepted["id"] in error["message"]
    assert await _count(server, Message.session_id == sid) == 1


async def test_one_key_within_one_batch_makes_one_message(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await _idle_session(admin)
    body = {"to": CONTACT, "text": "once, with a key"}
    answers = await asyncio.gather(*(_post(admin, sid, body, key="k-1") for _ in range(6)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 5
    other = await asyncio.gather(
        _post(admin, sid, {"to": CONTACT, "text": "another body"}, key="k-2"),
        _post(admin, sid, {"to": CONTACT, "text": "a third body"}, key="k-2"),
    )
    assert sorted(a.status_code for a in other) == [202, 422]
    reused = next(a for a in other if a.status_code == 422)
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert await _count(server, Message.session_id == sid) == 2


async def test_a_refused_item_does_not_hold_back_its_batch(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await _idle_session(admin)
    bulk = await admin.post(
        f"/v1/sessions/{sid}/messages/bulk",
        json={
            "messages": [
                {"to": CONTACT, "text": "first"},
                {"to": CONTACT, "text": "replying", "reply_to": "msg_doesnotexist"},
                {"to": CONTACT, "text": "first"},
                {"to": "5511977776666", "text": "first"},
                {"to": CONTACT, "text": "keyed", "idempotency_key": "b-1"},
                {"to": CONTACT, "text": "keyed", "idempotency_key": "b-1"},
            ]
        },
    )
    assert bulk.status_code == 200, bulk.text
    items = bulk.json()["items"]
    assert [i["status"] for i in items] == [202, 422, 409, 202, 202, 202]
    assert items[1]["error"]["code"] == "unknown_message"
    assert items[2]["error"]["code"] == "duplicate_message"
    assert items[5]["replayed"] is True
    assert items[5]["message"]["id"] == items[4]["message"]["id"]
    assert await _count(server, Message.session_id == sid) == 3


async def test_inbound_burst_is_stored_once_each_with_its_contacts(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    db = server.services.db
    commits = db.commits
    senders = [f"55119777{i:05}" for i in range(10)]
    await asyncio.gather(
        *(
            inbound(admin, sid, **{"from": sender, "text": f"hello {n}"})
            for n in range(4)
            for sender in senders
        ),
        inbound(admin, sid, **{"from": senders[0], "text": "again", "id": "SAME-ID"}),
        inbound(admin, sid, **{"from": senders[0], "text": "again", "id": "SAME-ID"}),
    )
    inbound_rows = await _count(server, Message.session_id == sid, Message.direction == "in")
    assert inbound_rows == 41  # the redelivered id once
    assert await _count(server, Contact.session_id == sid, model=Contact) == 10
    received = await _count(server, Event.type == "message.received", model=Event)
    assert received == 41
    assert db.commits - commits < 42


async def test_opt_out_and_back_in_within_one_batch(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    await asyncio.gather(
        inbound(admin, sid, **{"from": CONTACT, "text": "STOP"}),
        inbound(admin, sid, **{"from": "5511977776666", "text": "STOP"}),
    )
    refused = await _post(admin, sid, {"to": CONTACT, "text": "still there?"})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "recipient_opted_out"
    await inbound(admin, sid, **{"from": CONTACT, "text": "actually, hi"})
    allowed = await _post(admin, sid, {"to": CONTACT, "text": "welcome back"})
    assert allowed.status_code == 202
    kinds = (await admin.get("/v1/events", params={"type": "contact.opted_out"})).json()["items"]
    assert sorted(e["data"]["phone"] for e in kinds) == sorted([CONTACT, "5511977776666"])
    back = (await admin.get("/v1/events", params={"type": "contact.opted_in"})).json()["items"]
    assert [e["data"]["phone"] for e in back] == [CONTACT]


async def test_receipts_of_a_burst_move_every_message_forward(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    answers = await asyncio.gather(
        *(_post(admin, sid, {"to": f"55119666{i:05}", "text": f"r {i}"}) for i in range(20))
    )
    ids = [a.json()["id"] for a in answers]
    for message_id in ids:
        await wait_message(admin, message_id, "sent")
    network = server.network
    assert network is not None
    wa_ids = [(await admin.get(f"/v1/messages/{m}")).json()["wa_message_id"] for m in ids]
    await asyncio.gather(
        *(
            admin.post(f"/v1/simulator/{sid}/receipt", json={"wa_message_id": w, "status": s})
            for w in wa_ids
            for s in ("delivered",)
        )
    )
    await asyncio.gather(
        *(
            admin.post(f"/v1/simulator/{sid}/receipt", json={"wa_message_id": w, "status": "read"})
            for w in wa_ids
        )
    )
    for message_id in ids:
        body = await wait_message(admin, message_id, "read")
        assert body["delivered_at"] is not None
    statuses = (
        await admin.get("/v1/events", params={"type": "message.status", "limit": 200})
    ).json()
    assert len(statuses["items"]) == 40
