"""The transport contract: the same API behaviour on every transport, where it can do it.

Each test runs once per transport with a driver (tests/contract/drivers.py)
that plays the engine in its own wire format, and once per database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import SENT_OR_LATER, find_inbound, send, wait_message, wait_sent
from tests.contract.drivers import CONTACT, DRIVERS, Driver
from tests.support.server import RunningServer, eventually
from wagate.domain import FakeClock, MessageType
from wagate.transports.base import Capabilities


@dataclass
class Contract:
    driver: Driver
    server: RunningServer
    client: httpx.AsyncClient
    session: dict[str, Any]

    @property
    def sid(self) -> str:
        return str(self.session["id"])

    @property
    def capabilities(self) -> Capabilities:
        return self.server.services.registry.capabilities(self.driver.transport)

    async def events(self, type: str) -> list[dict[str, Any]]:
        page = await self.client.get("/v1/events", params={"type": type, "session_id": self.sid})
        return [e["data"] for e in page.json()["items"]]


@pytest.fixture(params=sorted(DRIVERS))
async def contract(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Contract]:
    driver = DRIVERS[request.param]()
    async with (
        driver.running(db_url, tmp_path / "data", clock) as server,
        server.client() as client,
    ):
        session = await driver.connect(server, client)
        yield Contract(driver, server, client, session)


async def test_a_text_reaches_the_engine_once_with_a_whatsapp_id(contract: Contract) -> None:
    accepted = await send(contract.client, contract.sid, to=f"+{CONTACT}", text="contract hello")
    assert accepted["status"] == "queued"
    sent = await wait_sent(contract.client, accepted["id"])
    assert sent["wa_message_id"]
    assert sent["chat_id"] == f"{CONTACT}@s.whatsapp.net"
    assert contract.driver.transmitted_texts(contract.server, contract.session) == [
        "contract hello"
    ]
    events = await contract.events("message.sent")
    assert [e["id"] for e in events] == [accepted["id"]]


async def test_receipts_move_a_message_forward_only(contract: Contract) -> None:
    accepted = await send(contract.client, contract.sid, to=CONTACT, text="tick tick")
    wa_id = (await wait_message(contract.client, accepted["id"], "sent"))["wa_message_id"]
    await contract.driver.receipt(contract.server, contract.session, wa_id, "delivered")
    await wait_message(contract.client, accepted["id"], "delivered")
    await contract.driver.receipt(contract.server, contract.session, wa_id, "read")
    read = await wait_message(contract.client, accepted["id"], "read")
    await contract.driver.receipt(contract.server, contract.session, wa_id, "delivered")  # late
    assert (await contract.client.get(f"/v1/messages/{accepted['id']}")).json()["status"] == "read"
    assert read["wa_message_id"] == wa_id

    async def announced() -> list[str]:
        return [e["status"] for e in await contract.events("message.status")]

    assert await eventually(announced) == ["delivered", "read"]


async def test_an_inbound_text_is_stored_once_and_announced(contract: Contract) -> None:
    for _ in range(2):  # engines deliver at least once
        await contract.driver.inbound_text(
            contract.server, contract.session, "WAGATECONTRACT0001", "hi from the contact"
        )
    stored = await find_inbound(contract.client, contract.sid, "WAGATECONTRACT0001")
    assert stored["direction"] == "in"
    assert stored["type"] == "text"
    assert stored["text"] == "hi from the contact"
    assert stored["chat_id"] == f"{CONTACT}@s.whatsapp.net"
    assert stored["chat_type"] == "direct"
    assert stored["sender_phone"] == CONTACT
    assert stored["from_me"] is False
    assert stored["status"] == "received"
    inbound = (
        await contract.client.get(f"/v1/sessions/{contract.sid}/messages?direction=in")
    ).json()["items"]
    assert len(inbound) == 1
    received = await contract.events("message.received")
    assert [e["wa_message_id"] for e in received] == ["WAGATECONTRACT0001"]


async def test_a_reply_quotes_the_message_it_answers(contract: Contract) -> None:
    await contract.driver.inbound_text(
        contract.server, contract.session, "WAGATECONTRACT0002", "question?"
    )
    question = await find_inbound(contract.client, contract.sid, "WAGATECONTRACT0002")
    reply = await send(
        contract.client, contract.sid, to=CONTACT, text="answer", reply_to=question["id"]
    )
    sent = await wait_sent(contract.client, reply["id"])
    assert sent["reply_to"] == "WAGATECONTRACT0002"
    assert sent["status"] in SENT_OR_LATER


async def test_the_same_idempotency_key_sends_once(contract: Contract) -> None:
    body = {"to": CONTACT, "text": "exactly once"}
    headers = {"idempotency-key": "contract-key-1"}
    first = await contract.client.post(
        f"/v1/sessions/{contract.sid}/messages", json=body, headers=headers
    )
    await wait_sent(contract.client, first.json()["id"])
    again = await contract.client.post(
        f"/v1/sessions/{contract.sid}/messages", json=body, headers=headers
    )
    assert again.json()["id"] == first.json()["id"]
    assert contract.driver.transmitted_texts(contract.server, contract.session) == ["exactly once"]


async def test_what_a_transport_cannot_do_is_a_clear_422(contract: Contract) -> None:
    capabilities = contract.capabilities
    sid = contract.sid
    checks: list[tuple[bool, str, str, dict[str, Any] | None]] = [
        (capabilities.qr, "GET", f"/v1/sessions/{sid}/qr", None),
        (
            capabilities.pairing_code,
            "POST",
            f"/v1/sessions/{sid}/pairing-code",
            {"phone": CONTACT},
        ),
        (
            capabilities.presence,
            "POST",
            f"/v1/sessions/{sid}/presence",
            {"chat_id": CONTACT, "state": "composing"},
        ),
    ]
    for supported, method, path, body in checks:
        answer = await contract.client.request(method, path, json=body)
        if supported:
            assert answer.status_code != 422 or (
                answer.json()["error"]["code"] != "unsupported_by_transport"
            ), path
        else:
            assert answer.status_code == 422, (path, answer.text)
            assert answer.json()["error"]["code"] == "unsupported_by_transport"
    kinds = (
        MessageType.VOICE,
        MessageType.LOCATION,
        MessageType.CONTACT,
        MessageType.POLL,
        MessageType.BUTTONS,
        MessageType.LIST,
    )
    for kind in kinds:
        if kind in capabilities.message_types:
            continue
        answer = await contract.client.post(f"/v1/sessions/{sid}/messages", json=_request_of(kind))
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "unsupported_by_transport"


def _request_of(kind: MessageType) -> dict[str, Any]:
    parts: dict[MessageType, dict[str, Any]] = {
        MessageType.VOICE: {"media": {"base64": "T2dnUw==", "mime_type": "audio/ogg"}},
        MessageType.LOCATION: {"location": {"latitude": 1.0, "longitude": 2.0}},
        MessageType.CONTACT: {"contact": {"name": "Bia", "phone": "5511977776666"}},
        MessageType.POLL: {"poll": {"name": "Lunch?", "options": ["Pizza", "Sushi"]}},
        MessageType.BUTTONS: {"buttons": {"text": "ok?", "buttons": [{"id": "y", "title": "Yes"}]}},
        MessageType.LIST: {
            "list": {
                "text": "menu",
                "button": "Open",
                "sections": [{"title": "All", "rows": [{"id": "a", "title": "A"}]}],
            }
        },
    }
    return {"to": CONTACT, "type": kind.value, **parts[kind]}


async def test_a_sent_text_can_be_edited_then_deleted_for_everyone(contract: Contract) -> None:
    client, sid = contract.client, contract.sid
    original = await send(client, sid, to=CONTACT, text="see you at 10")
    wa_id = (await wait_sent(client, original["id"]))["wa_message_id"]
    kinds = contract.capabilities.message_types
    if MessageType.EDIT not in kinds or MessageType.REVOKE not in kinds:
        for answer in (
            await client.patch(f"/v1/messages/{original['id']}", json={"text": "at 11"}),
            await client.delete(f"/v1/messages/{original['id']}"),
        ):
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["code"] == "unsupported_by_transport"
        return

    edit = await client.patch(f"/v1/messages/{original['id']}", json={"text": "see you at 11"})
    assert edit.status_code == 202, edit.text
    assert (edit.json()["type"], edit.json()["target_id"]) == ("edit", original["id"])
    await wait_sent(client, edit.json()["id"])
    edited = (await client.get(f"/v1/messages/{original['id']}")).json()
    assert (edited["text"], edited["edited"], edited["wa_message_id"]) == (
        "see you at 11",
        True,
        wa_id,
    )

    revoke = await client.delete(f"/v1/messages/{original['id']}")
    assert revoke.status_code == 202, revoke.text
    await wait_sent(client, revoke.json()["id"])
    assert (await client.get(f"/v1/messages/{original['id']}")).json()["revoked"] is True

    assert await contract.driver.transmitted_changes(contract.server, contract.session) == [
        ("edit", wa_id, "see you at 11"),
        ("revoke", wa_id, None),
    ]
    updates = await contract.events("message.updated")
    assert [(u["change"], u["id"]) for u in updates] == [
        ("edited", original["id"]),
        ("revoked", original["id"]),
    ]


async def test_a_poll_goes_out_and_votes_come_back_with_tallies(contract: Contract) -> None:
    client, sid = contract.client, contract.sid
    poll = {"name": "Lunch?", "options": ["Pizza", "Sushi"], "selectable_count": 1}
    if MessageType.POLL not in contract.capabilities.message_types:
        return  # the 422 is checked above
    accepted = await send(client, sid, to=CONTACT, type="poll", poll=poll)
    wa_id = (await wait_sent(client, accepted["id"]))["wa_message_id"]
    if not await contract.driver.vote(contract.server, contract.session, wa_id, ["Sushi"]):
        return  # the engine sends polls but reports no votes (docs/api.md, Polls)

    async def counted() -> dict[str, Any]:
        votes = await contract.events("poll.vote")
        assert len(votes) == 1, votes
        return votes[0]

    vote = await eventually(counted)
    assert vote["voter"] == f"{CONTACT}@s.whatsapp.net"
    assert vote["selected"] == ["Sushi"]
    assert vote["tallies"] == [{"option": "Pizza", "votes": 0}, {"option": "Sushi", "votes": 1}]


async def test_a_group_is_made_run_and_left(contract: Contract) -> None:
    client, sid = contract.client, contract.sid
    base = f"/v1/sessions/{sid}/groups"
    body = {"subject": "Contract group", "participants": [CONTACT]}
    if not contract.capabilities.groups:
        answer = await client.post(base, json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "unsupported_by_transport"
        return
    created = await client.post(base, json=body)
    assert created.status_code == 201, created.text
    jid = created.json()["jid"]
    assert jid.endswith("@g.us")
    assert f"{CONTACT}@s.whatsapp.net" in [p["jid"] for p in created.json()["participants"]]

    renamed = await client.patch(f"{base}/{jid}", json={"subject": "Renamed"})
    assert renamed.json()["subject"] == "Renamed"
    added = await client.post(
        f"{base}/{jid}/participants", json={"action": "add", "participants": ["5511977776666"]}
    )
    assert added.json()["items"] == [
        {"jid": "5511977776666@s.whatsapp.net", "ok": True, "error": None}
    ]
    link = await client.get(f"{base}/{jid}/invite-link")
    assert link.json()["link"].startswith("https://chat.whatsapp.com/")

    await contract.driver.someone_joins(contract.server, contract.session, jid)

    async def noticed() -> list[dict[str, Any]]:
        joined = [e for e in await contract.events("group.participants") if e["group"] == jid]
        assert any(e["participants"] == [f"{CONTACT}@s.whatsapp.net"] for e in joined), joined
        return joined

    await eventually(noticed)
    assert (await client.post(f"{base}/{jid}/leave")).status_code == 204


async def test_the_profile_and_blocking_where_the_transport_can(contract: Contract) -> None:
    client, sid = contract.client, contract.sid
    if not contract.capabilities.profile:
        for method, path in (
            ("GET", f"/v1/sessions/{sid}/profile"),
            ("POST", f"/v1/sessions/{sid}/contacts/{CONTACT}/block"),
        ):
            answer = await client.request(method, path)
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["code"] == "unsupported_by_transport"
        return
    changed = await client.patch(f"/v1/sessions/{sid}/profile", json={"about": "Open 9-18h"})
    assert changed.status_code == 200, changed.text
    own = (await client.get(f"/v1/sessions/{sid}/profile")).json()
    assert own["about"] == "Open 9-18h"
    assert own["jid"] == f"{contract.session['phone']}@s.whatsapp.net"
    their = await client.get(f"/v1/sessions/{sid}/contacts/{CONTACT}/profile")
    if their.status_code == 422:  # the Cloud API shows no contact's profile to a business
        assert their.json()["error"]["code"] == "unsupported_by_transport"
    else:
        assert their.json()["jid"] == f"{CONTACT}@s.whatsapp.net"
    blocked = await client.post(f"/v1/sessions/{sid}/contacts/{CONTACT}/block")
    assert blocked.json() == {"jid": f"{CONTACT}@s.whatsapp.net", "blocked": True}
    [contact] = (await client.get(f"/v1/sessions/{sid}/contacts", params={"q": CONTACT})).json()[
        "items"
    ]
    assert contact["blocked"] is True
