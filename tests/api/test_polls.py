"""Polls on the simulator, on both databases: a poll goes out, people vote, and each vote
is announced as ``poll.vote`` with the tallies, which the poll's message also shows.

The simulated network models WhatsApp's encrypted votes: a vote carries only the
SHA-256 of each chosen option's name, which wagate matches against the poll."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import connected_session, send, wait_sent
from tests.support.server import RunningServer, eventually

POLL = {"name": "Lunch?", "options": ["Pizza", "Sushi", "Salad"], "selectable_count": 1}
GROUP = "120363000000000077@g.us"


async def _vote(
    admin: httpx.AsyncClient, sid: str, poll_wa_id: str, who: str, options: list[str]
) -> None:
    answer = await admin.post(
        f"/v1/simulator/{sid}/inbound",
        json={
            "type": "poll_vote",
            "from": who,
            "group": GROUP,
            "message_id": poll_wa_id,
            "options": options,
        },
    )
    assert answer.status_code == 202, answer.text


async def _votes(admin: httpx.AsyncClient, sid: str, count: int) -> list[dict[str, Any]]:
    async def announced() -> list[dict[str, Any]]:
        page = await admin.get("/v1/events", params={"type": "poll.vote", "session_id": sid})
        items = [e["data"] for e in page.json()["items"]]
        assert len(items) == count, items
        return items

    result: list[dict[str, Any]] = await eventually(announced)
    return result


def _tally(poll: dict[str, Any]) -> dict[str, int]:
    return {t["option"]: t["votes"] for t in poll["tallies"]}


async def test_a_poll_goes_out_and_its_votes_are_counted(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    accepted = await send(admin, sid, to=GROUP, type="poll", poll=POLL)
    assert accepted["text"] == "Lunch?"
    assert _tally(accepted["poll"]) == {"Pizza": 0, "Sushi": 0, "Salad": 0}
    wa_id = (await wait_sent(admin, accepted["id"]))["wa_message_id"]
    [reached] = server.network.sent(sid)
    assert (reached.type, reached.text, reached.to) == ("poll", "Lunch?", GROUP)

    await _vote(admin, sid, wa_id, "5511911110001", ["Sushi"])
    await _vote(admin, sid, wa_id, "5511911110002", ["Sushi"])
    first, second = await _votes(admin, sid, 2)
    assert first["voter"] == "5511911110001@s.whatsapp.net"
    assert first["selected"] == ["Sushi"]
    assert first["message_id"] == accepted["id"]
    assert first["chat_id"] == GROUP
    assert _tally(second) == {"Pizza": 0, "Sushi": 2, "Salad": 0}

    # a new vote replaces the person's earlier one; an empty one withdraws it
    await _vote(admin, sid, wa_id, "5511911110001", ["Pizza"])
    await _vote(admin, sid, wa_id, "5511911110002", [])
    *_, changed, withdrawn = await _votes(admin, sid, 4)
    assert _tally(changed) == {"Pizza": 1, "Sushi": 1, "Salad": 0}
    assert withdrawn["selected"] == []
    assert _tally(withdrawn) == {"Pizza": 1, "Sushi": 0, "Salad": 0}
    shown = (await admin.get(f"/v1/messages/{accepted['id']}")).json()["poll"]
    assert _tally(shown) == {"Pizza": 1, "Sushi": 0, "Salad": 0}
    assert shown["name"] == "Lunch?"


async def test_a_repeated_vote_and_unknown_options_change_nothing(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = (await connected_session(server, admin))["id"]
    accepted = await send(admin, sid, to=GROUP, type="poll", poll={**POLL, "selectable_count": 0})
    wa_id = (await wait_sent(admin, accepted["id"]))["wa_message_id"]
    await _vote(admin, sid, wa_id, "5511911110001", ["Salad", "Pizza", "Burgers"])
    [vote] = await _votes(admin, sid, 1)
    assert vote["selected"] == ["Pizza", "Salad"]  # in the poll's order; Burgers is no option
    await _vote(admin, sid, wa_id, "5511911110001", ["Pizza", "Salad"])  # the same choice again
    await _vote(admin, sid, wa_id, "5511911110003", ["Pizza"])  # a later vote, as a marker
    votes = await _votes(admin, sid, 2)
    assert [v["voter"] for v in votes] == [
        "5511911110001@s.whatsapp.net",
        "5511911110003@s.whatsapp.net",
    ]
    assert _tally(votes[-1]) == {"Pizza": 2, "Sushi": 0, "Salad": 1}


async def test_a_poll_must_make_sense(server: RunningServer, admin: httpx.AsyncClient) -> None:
    sid = (await connected_session(server, admin))["id"]
    bad = [
        {"name": "One?", "options": ["Only"]},
        {"name": "Twice?", "options": ["A", "A"]},
        {"name": "Many?", "options": ["A", "B"], "selectable_count": 3},
        {"name": "", "options": ["A", "B"]},
        {"name": "Too many?", "options": [str(n) for n in range(13)]},
    ]
    for poll in bad:
        answer = await admin.post(
            f"/v1/sessions/{sid}/messages", json={"to": GROUP, "type": "poll", "poll": poll}
        )
        assert answer.status_code == 422, (poll, answer.text)
        assert answer.json()["error"]["code"] == "validation_error"
    missing = await admin.post(f"/v1/sessions/{sid}/messages", json={"to": GROUP, "type": "poll"})
    assert missing.status_code == 422
