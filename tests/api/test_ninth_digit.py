"""Brazil's ninth digit, and numbers that are not on WhatsApp: the first send to a phone
number asks the network where its account lives, and goes there.

Many Brazilian accounts registered before mobile numbers gained their ninth digit live at
the 8-digit JID; a message to the 9-digit form lands in a chat nobody reads. Before this
check, wagate sent to the number as written (and "sent" a message to a number with no
account at all): both tests below fail on that code.
"""

from __future__ import annotations

import httpx

from tests.api.helpers import SENT_OR_LATER, connected_session, send, wait_message
from tests.support.server import RunningServer

NINE_DIGITS = "5511988887777"
OLD_JID = "551188887777@s.whatsapp.net"  # the account, registered before the ninth digit


async def _declare(admin: httpx.AsyncClient, sid: str, **account: object) -> None:
    response = await admin.post(f"/v1/simulator/{sid}/accounts", json=account)
    assert response.status_code == 201, response.text


async def test_a_send_goes_to_the_jid_the_account_really_has(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    await _declare(admin, sid, phone="+55 11 98888-7777", jid=OLD_JID)
    checked = await admin.post(f"/v1/sessions/{sid}/contacts/check", json=[NINE_DIGITS])
    assert checked.json()["items"][0]["jid"] == OLD_JID

    message = await send(admin, sid, to="+55 (11) 98888-7777", text="oi")
    body = await wait_message(admin, message["id"], "sent")
    assert body["chat_id"] == OLD_JID
    [reached] = server.network.sent(sid)
    assert reached.to == OLD_JID  # not the 9-digit chat nobody reads


async def test_a_number_not_on_whatsapp_fails_instead_of_being_sent(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    await _declare(admin, sid, phone="5511977776666", on_whatsapp=False)
    message = await send(admin, sid, to="5511977776666", text="hello?")
    failed = await wait_message(admin, message["id"], "failed")
    assert failed["error"]["code"] == "not_on_whatsapp"
    assert server.network.sent(sid) == []


async def test_the_answer_is_kept_for_its_ttl_then_asked_again(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    await _declare(admin, sid, phone=NINE_DIGITS, jid=OLD_JID)
    first = await send(admin, sid, to=NINE_DIGITS, text="one")
    await wait_message(admin, first["id"], "sent")
    # the account moves to its 9-digit JID; within the TTL the known answer is used
    await _declare(admin, sid, phone=NINE_DIGITS, jid=f"{NINE_DIGITS}@s.whatsapp.net")
    second = await send(admin, sid, to=NINE_DIGITS, text="two", humanize=False)
    assert (await wait_message(admin, second["id"], "sent"))["chat_id"] == OLD_JID
    await server.advance(server.services.settings.number_check_ttl_s + 1)
    third = await send(admin, sid, to=NINE_DIGITS, text="three", humanize=False)
    body = await wait_message(admin, third["id"], "sent")
    assert body["chat_id"] == f"{NINE_DIGITS}@s.whatsapp.net"
    assert body["status"] in SENT_OR_LATER
