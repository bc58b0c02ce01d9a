"""Guardrails and pacing on the real send path, with an injected clock, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.api.helpers import (
    SENT_OR_LATER,
    advance_until,
    connected_session,
    find_inbound,
    inbound,
    send,
    wait_message,
    wait_sent,
)
from tests.support.server import RunningServer, eventually

A = "5511988880001"
B = "5511988880002"


async def _settings(admin: httpx.AsyncClient, session_id: str, **values: Any) -> None:
    response = await admin.put(f"/v1/sessions/{session_id}/settings", json=values)
    assert response.status_code == 200, response.text


async def _statuses(admin: httpx.AsyncClient, ids: list[str]) -> list[str]:
    return [(await admin.get(f"/v1/messages/{i}")).json()["status"] for i in ids]


async def test_burst_cooldown_delays_without_dropping(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    ids = [(await send(admin, session["id"], to=A, text=f"m{i}"))["id"] for i in range(5)]
    third = await wait_message(admin, ids[2], "sent")
    waiting = await wait_message(admin, ids[3], "queued")

    async def shows_why() -> dict[str, Any] | None:
        body = (await admin.get(f"/v1/messages/{ids[3]}")).json()
        return body["waiting"]

    why = await eventually(shows_why)
    assert why["reason"] == "burst_cooldown"
    until = datetime.fromisoformat(why["until"])
    assert until == datetime.fromisoformat(third["sent_at"]) + timedelta(seconds=30)
    assert waiting["status"] == "queued"
    await server.advance(29)
    assert await _statuses(admin, ids[3:]) == ["queued", "queued"]
    await server.advance(1)
    await wait_sent(admin, ids[4])
    sent = (await admin.get(f"/v1/messages/{ids[4]}")).json()
    assert sent["waiting"] is None
    assert [r.message_id for r in server.network.sent(session["id"])] == ids


async def test_a_waiting_chat_does_not_hold_up_another(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    held = [(await send(admin, session["id"], to=A, text=f"a{i}"))["id"] for i in range(4)]
    await wait_message(admin, held[2], "sent")
    other = await send(admin, session["id"], to=B, text="b")
    await wait_message(admin, other["id"], "sent")
    assert (await admin.get(f"/v1/messages/{held[3]}")).json()["status"] == "queued"


async def test_rate_limit_per_recipient(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    await _settings(admin, session["id"], rate_per_minute=2, burst_size=50)
    ids = [(await send(admin, session["id"], to=A, text=f"r{i}"))["id"] for i in range(3)]
    await wait_message(admin, ids[1], "sent")

    async def rate_limited() -> bool:
        body = (await admin.get(f"/v1/messages/{ids[2]}")).json()
        return bool(body["waiting"] and body["waiting"]["reason"] == "rate_limit")

    await eventually(rate_limited)
    await server.advance(60)
    await wait_sent(admin, ids[2])


async def test_daily_cap_holds_proactive_messages_only(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    await _settings(admin, sid, daily_cap=1)
    await find_inbound(admin, sid, await inbound(admin, sid, **{"from": B, "text": "hello?"}))
    first = await send(admin, sid, to=A, text="proactive one")
    await wait_message(admin, first["id"], "sent")
    second = await send(admin, sid, to="5511988880003", text="proactive two")
    reply = await send(admin, sid, to=B, text="a reply is never capped")
    await wait_message(admin, reply["id"], "sent")

    async def capped() -> dict[str, Any] | None:
        return (await admin.get(f"/v1/messages/{second['id']}")).json()["waiting"]

    why = await eventually(capped)
    assert why["reason"] == "daily_cap"
    midnight = (server.clock.now() + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    assert datetime.fromisoformat(why["until"]) == midnight
    await server.advance((midnight - server.clock.now()).total_seconds())
    await wait_sent(admin, second["id"])


async def test_quiet_hours_hold_proactive_but_not_replies(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    now = server.clock.now()
    start = (now - timedelta(hours=1)).strftime("%H:%M")
    end = (now + timedelta(hours=2)).replace(minute=0).strftime("%H:%M")
    await _settings(admin, sid, quiet_hours={"start": start, "end": end})
    await find_inbound(admin, sid, await inbound(admin, sid, **{"from": B, "text": "hi"}))
    proactive = await send(admin, sid, to=A, text="campaign")
    reply = await send(admin, sid, to=B, text="answer")
    await wait_message(admin, reply["id"], "sent")

    async def quiet() -> dict[str, Any] | None:
        return (await admin.get(f"/v1/messages/{proactive['id']}")).json()["waiting"]

    why = await eventually(quiet)
    assert why["reason"] == "quiet_hours"
    opens = datetime.fromisoformat(why["until"])
    assert opens.strftime("%H:%M") == end
    await server.advance((opens - server.clock.now()).total_seconds())
    await wait_sent(admin, proactive["id"])


async def test_pacing_reads_types_and_pauses_before_sending(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    await _settings(admin, sid, pacing="normal")
    wa_id = await inbound(admin, sid, **{"from": A, "text": "question"})
    await find_inbound(admin, sid, wa_id)
    paced = await send(admin, sid, to=A, text="x" * 30)
    instant = await send(admin, sid, to=B, text="no pacing for me", humanize=False)
    await wait_sent(admin, instant["id"])
    assert (await admin.get(f"/v1/messages/{paced['id']}")).json()["status"] == "queued"
    # at most 2 s think + 25 s typing + 0.8 s pause
    await advance_until(server, admin, paced["id"], SENT_OR_LATER, limit=40)
    activity = (await admin.get(f"/v1/simulator/{sid}/activity")).json()
    chat = f"{A}@s.whatsapp.net"
    assert [r["wa_message_ids"] for r in activity["read"]] == [[wa_id]]
    assert [s["chat_id"] for s in activity["subscribed"]] == [chat]
    states = [p["state"] for p in activity["presence"] if p["chat_id"] == chat]
    assert states[0] == "composing"
    assert states[-1] == "paused"
    assert not [p for p in activity["presence"] if p["chat_id"] == f"{B}@s.whatsapp.net"]


async def test_a_message_may_bring_its_own_pacing(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    """The session paces nothing (``instant``); one message asks for ``normal``."""
    sid = (await connected_session(server, admin))["id"]
    plain = await send(admin, sid, to=B, text="at once")
    await wait_sent(admin, plain["id"])
    paced = await send(admin, sid, to=A, text="x" * 30, pacing="normal")
    assert (await admin.get(f"/v1/messages/{paced['id']}")).json()["status"] == "queued"
    await advance_until(server, admin, paced["id"], SENT_OR_LATER, limit=40)
    activity = (await admin.get(f"/v1/simulator/{sid}/activity")).json()
    states = [p["state"] for p in activity["presence"] if p["chat_id"] == f"{A}@s.whatsapp.net"]
    assert states[0] == "composing"
    assert states[-1] == "paused"
    assert not [p for p in activity["presence"] if p["chat_id"] == f"{B}@s.whatsapp.net"]
    bad = await admin.post(
        f"/v1/sessions/{sid}/messages", json={"to": A, "text": "y", "pacing": "warp"}
    )
    assert bad.status_code == 422


async def test_voice_notes_show_recording(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    await _settings(admin, sid, pacing="fast")
    voice = await send(admin, sid, to=A, type="voice", media={"base64": "T2dnUw" * 10})
    await advance_until(server, admin, voice["id"], SENT_OR_LATER, limit=40)
    activity = (await admin.get(f"/v1/simulator/{sid}/activity")).json()
    assert "recording" in [p["state"] for p in activity["presence"]]


async def test_messages_expire_while_the_session_is_offline(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    await _settings(admin, sid, message_ttl_s=60)
    await admin.post(f"/v1/sessions/{sid}/stop")
    queued = await send(admin, sid, to=A, text="too late")
    await server.advance(30)
    assert (await admin.get(f"/v1/messages/{queued['id']}")).json()["status"] == "queued"
    # the expiry sweep polls in real time (every 0.2 s here): leave it many turns after
    # the message expired at 60 s of clock time, not just the few a fast machine needs
    failed = await advance_until(server, admin, queued["id"], ("failed",), step=1, limit=120)
    assert failed["error"]["code"] == "expired"
    await admin.post(f"/v1/sessions/{sid}/start")
    events = (await admin.get("/v1/events", params={"type": "message.status"})).json()["items"]
    assert [e["data"]["error"]["code"] for e in events] == ["expired"]


async def test_settings_validation(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    url = f"/v1/sessions/{session['id']}/settings"
    for body in (
        {"pacing": "warp"},
        {"rate_per_minute": 0},
        {"nonsense": 1},
        {"quiet_hours": {"start": "25:00", "end": "01:00"}},
        {"timezone": "Nowhere"},
    ):
        response = await admin.put(url, json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "invalid_settings"
    ok = await admin.put(url, json={"daily_cap": 5, "timezone": "Europe/Lisbon"})
    assert ok.json()["effective"]["daily_cap"] == 5
    assert ok.json()["overrides"] == {"daily_cap": 5, "timezone": "Europe/Lisbon"}
    reset = await admin.put(url, json={"daily_cap": None})
    assert reset.json()["overrides"] == {}
    assert reset.json()["effective"]["daily_cap"] == 1000


async def test_opt_out_keyword_and_opt_in(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    await find_inbound(admin, sid, await inbound(admin, sid, **{"from": A, "text": " stop "}))
    events = (await admin.get("/v1/events", params={"type": "contact.opted_out"})).json()
    assert [e["data"]["phone"] for e in events["items"]] == [A]
    refused = await admin.post(f"/v1/sessions/{sid}/messages", json={"to": A, "text": "hi"})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "recipient_opted_out"
    await find_inbound(admin, sid, await inbound(admin, sid, **{"from": A, "text": "hi again"}))
    back = (await admin.get("/v1/events", params={"type": "contact.opted_in"})).json()
    assert [e["data"]["phone"] for e in back["items"]] == [A]
    assert (
        await admin.post(f"/v1/sessions/{sid}/messages", json={"to": A, "text": "welcome back"})
    ).status_code == 202


async def test_settings_given_at_creation(server: RunningServer, admin: httpx.AsyncClient) -> None:
    created = await admin.post(
        "/v1/sessions",
        json={"name": "tuned", "start": False, "settings": {"pacing": "slow", "daily_cap": 7}},
    )
    assert created.status_code == 201
    view = (await admin.get(f"/v1/sessions/{created.json()['id']}/settings")).json()
    assert view["overrides"] == {"pacing": "slow", "daily_cap": 7}
    bad = await admin.post("/v1/sessions", json={"name": "x", "settings": {"pacing": "warp"}})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_settings"


async def test_transient_failures_are_retried_with_backoff(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    await admin.post(f"/v1/simulator/{sid}/faults/send", json={"count": 1, "code": "timeout"})
    message = await send(admin, sid, to=A, text="eventually")

    async def retrying() -> dict[str, Any] | None:
        body = (await admin.get(f"/v1/messages/{message['id']}")).json()
        return body if body["waiting"] else None

    first = await eventually(retrying)
    assert first["waiting"]["reason"] == "retry"
    assert first["error"] == {"code": "timeout", "message": "injected failure: timeout"}
    assert first["attempts"] == 1
    other = await send(admin, sid, to=B, text="not held up by A's retry")
    await wait_sent(admin, other["id"])
    await admin.post(f"/v1/simulator/{sid}/faults/send", json={"count": 1, "code": "timeout"})
    sent = await advance_until(server, admin, message["id"], SENT_OR_LATER, step=0.5, limit=10)
    assert sent["attempts"] == 3
    assert sent["error"] is None
    assert sent["waiting"] is None
    records = {r.message_id: r for r in server.network.sent(sid)}
    assert records[message["id"]].transmissions == 1  # the failed attempts never arrived


async def test_permanent_failure_and_giving_up(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    await admin.post(
        f"/v1/simulator/{sid}/faults/send",
        json={"count": 1, "code": "invalid_recipient", "transient": False},
    )
    refused = await send(admin, sid, to=A, text="nope")
    failed = await wait_message(admin, refused["id"], "failed")
    assert failed["error"]["code"] == "invalid_recipient"
    assert failed["attempts"] == 1
    await admin.post(f"/v1/simulator/{sid}/faults/send", json={"count": 100, "code": "flaky"})
    doomed = await send(admin, sid, to=B, text="never")
    gave_up = await advance_until(server, admin, doomed["id"], ("failed",), step=10, limit=600)
    assert gave_up["error"]["code"] == "flaky"
    assert gave_up["attempts"] == 8  # WAGATE_SEND_MAX_ATTEMPTS


async def test_retry_after_from_the_transport_is_honoured(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    sid = session["id"]
    await admin.post(
        f"/v1/simulator/{sid}/faults/send",
        json={"count": 1, "code": "rate_limited", "retry_after_s": 120},
    )
    message = await send(admin, sid, to=A, text="patience")

    async def waiting_until() -> str | None:
        body = (await admin.get(f"/v1/messages/{message['id']}")).json()
        return body["waiting"]["until"] if body["waiting"] else None

    until = datetime.fromisoformat(await eventually(waiting_until))
    assert until == server.clock.now() + timedelta(seconds=120)


async def test_lid_without_a_known_phone_fails_clearly(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    queued = await send(admin, session["id"], to="987654321098765@lid", text="who?")
    assert queued["chat_id"] == "987654321098765@lid"
    failed = await wait_message(admin, queued["id"], "failed")
    assert failed["error"]["code"] == "lid_without_mapping"


async def test_relaxing_a_guardrail_releases_waiting_messages(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await connected_session(server, admin)
    ids = [(await send(admin, session["id"], to=A, text=f"x{i}"))["id"] for i in range(4)]

    async def held() -> bool:
        body = (await admin.get(f"/v1/messages/{ids[3]}")).json()
        return bool(body["waiting"] and body["waiting"]["reason"] == "burst_cooldown")

    await eventually(held)
    await _settings(admin, session["id"], burst_size=10)
    await wait_sent(admin, ids[3])  # without moving the clock
