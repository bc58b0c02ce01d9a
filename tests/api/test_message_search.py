"""Finding messages: a session's messages narrowed by chat, direction, type, status, time
and text, on the simulator and both databases."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx

from tests.api.helpers import connected_session, find_inbound, inbound, send, wait_sent
from tests.support.server import RunningServer

ANA, BIA = "5511911110001", "5511911110002"


async def test_messages_are_found_by_every_filter_together(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    start = server.clock.now()
    await find_inbound(
        admin, sid, await inbound(admin, sid, **{"from": ANA, "text": "Invoice 42?"})
    )
    await find_inbound(admin, sid, await inbound(admin, sid, **{"from": BIA, "text": "hello"}))
    await server.advance(3600)
    middle = server.clock.now()
    reply = await send(admin, sid, to=ANA, text="Your invoice 42 is paid", humanize=False)
    await wait_sent(admin, reply["id"])
    photo = base64.b64encode(b"\xff\xd8\xff\xe0").decode()
    picture = await send(
        admin, sid, to=ANA, type="image", media={"base64": photo, "caption": "the INVOICE"}
    )
    await wait_sent(admin, picture["id"])
    failing = await send(admin, sid, to="09990000000", text="invoice to nobody")

    async def texts(**params: object) -> list[str]:
        answer = await admin.get(f"/v1/sessions/{sid}/messages", params=params)
        assert answer.status_code == 200, answer.text
        return [m["text"] for m in answer.json()["items"]]

    assert await texts(q="invoice", chat_id=ANA) == [
        "the INVOICE",
        "Your invoice 42 is paid",
        "Invoice 42?",
    ]
    assert await texts(q="invoice", direction="in") == ["Invoice 42?"]
    assert await texts(q="invoice", type="image") == ["the INVOICE"]
    assert await texts(
        type=["text", "image"], chat_id=f"{ANA}@s.whatsapp.net", direction="out"
    ) == [
        "the INVOICE",
        "Your invoice 42 is paid",
    ]
    assert await texts(since=middle.isoformat(), q="invoice", status="sent") == [
        "the INVOICE",
        "Your invoice 42 is paid",
    ]
    assert await texts(until=middle.isoformat()) == ["hello", "Invoice 42?"]
    window = {"since": start.isoformat(), "until": (start + timedelta(minutes=1)).isoformat()}
    assert await texts(**window, chat_id=BIA) == ["hello"]
    assert await texts(q="50%_off") == []  # wildcards match themselves
    assert failing["id"]
    assert await texts(status="received", q="INVOICE") == ["Invoice 42?"]

    paged = await admin.get(f"/v1/sessions/{sid}/messages", params={"q": "invoice", "limit": 2})
    assert len(paged.json()["items"]) == 2
    rest = await admin.get(
        f"/v1/sessions/{sid}/messages",
        params={"q": "invoice", "limit": 2, "cursor": paged.json()["next_cursor"]},
    )
    assert [m["text"] for m in rest.json()["items"]] == ["Your invoice 42 is paid", "Invoice 42?"]


async def test_bad_filters_are_clear_errors(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    url = f"/v1/sessions/{sid}/messages"
    for params in (
        {"type": "selfie"},
        {"status": "lost"},
        {"since": "yesterday"},
        {"since": "2026-01-05T12:00:00"},  # no time zone: ambiguous
        {"since": "2026-01-05T12:00:00Z", "until": "2026-01-05T11:00:00Z"},
    ):
        answer = await admin.get(url, params=params)
        assert answer.status_code == 422, (params, answer.text)
        assert answer.json()["error"]["code"] == "validation_error"
