"""Webhook delivery end to end: a real server, a real receiver on loopback, an injected clock."""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from tests.api.helpers import connected_session, create_session, inbound
from tests.events.support import (
    Received,
    Receiver,
    advance_until,
    create_webhook,
    deliveries,
    emit,
    event_settings,
    settle,
    tenant_key,
    verify,
)
from tests.support.server import RunningServer, running_server
from wagate.domain import FakeClock, new_id
from wagate.store.models import Webhook
from wagate.store.repositories import tenants, webhooks


def received(receiver: Receiver, n: int):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return len(receiver.received) >= n

    return check


def status_is(client: httpx.AsyncClient, webhook_id: str, *statuses: str):  # type: ignore[no-untyped-def]
    async def check() -> list[dict[str, object]] | None:
        items = await deliveries(client, webhook_id)
        if items and [d["status"] for d in items] == list(statuses):
            return items
        return None

    return check


def fail_first(n: int, status: int = 500, body: bytes = b"boom"):  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def answer(got: Received) -> tuple[int, dict[str, str], bytes]:
        seen.append(got.id)
        return (status, {}, body) if len(seen) <= n else (204, {}, b"")

    return answer


async def test_signed_delivery_of_an_inbound_message(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    session = await connected_session(server, admin)
    hook = await create_webhook(admin, receiver.url, events=["message.received"])
    assert hook["secret"].startswith("whsec_")
    wa_id = await inbound(admin, session["id"], **{"from": "5511988887777", "text": "hello"})

    await settle(received(receiver, 1))
    got = receiver.received[0]
    payload = verify(hook["secret"], got)
    assert set(payload) == {"type", "timestamp", "session_id", "data"}
    assert payload["type"] == "message.received"
    assert payload["session_id"] == session["id"]
    assert wa_id in got.body.decode()
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"].startswith("wagate/")
    assert got.headers["webhook-signature"].startswith("v1,")

    log = (await admin.get("/v1/events", params={"type": "message.received"})).json()["items"]
    assert got.id == log[-1]["id"]
    assert payload["timestamp"] == log[-1]["timestamp"]
    assert payload["data"] == log[-1]["data"]

    items = await settle(status_is(admin, hook["id"], "delivered"))
    assert (items[0]["attempts"], items[0]["last_status"], items[0]["event_id"]) == (1, 204, got.id)


async def test_retries_keep_the_event_id_until_delivered(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.answer = fail_first(2)
    hook = await create_webhook(admin, receiver.url)
    [event_id] = await emit(server, 1)

    await settle(received(receiver, 1))
    [first] = await settle(status_is(admin, hook["id"], "failed"))
    assert (first["attempts"], first["last_status"], first["last_response"]) == (1, 500, "boom")
    assert first["last_error"] == "http_500"
    wait = datetime.fromisoformat(first["next_attempt_at"]) - server.clock.now()
    assert 3.9 <= wait.total_seconds() <= 6.1  # 5 s +-20 %

    await advance_until(server, received(receiver, 3), step=2.0, what="three attempts")
    [done] = await settle(status_is(admin, hook["id"], "delivered"))
    assert done["attempts"] == 3
    assert receiver.ids() == [event_id] * 3
    for got in receiver.received:
        verify(hook["secret"], got)


async def test_dead_letter_then_replay_one_and_all(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.answer = lambda _: (500, {}, b"down")
    hook = await create_webhook(admin, receiver.url)
    await emit(server, 1)
    [dead] = await advance_until(
        server, status_is(admin, hook["id"], "dead"), step=5.0, what="dead letter"
    )
    assert dead["attempts"] == 4
    assert dead["next_attempt_at"] is None
    assert len(receiver.received) == 4

    receiver.answer = lambda _: (204, {}, b"")
    replay = await admin.post(f"/v1/webhooks/{hook['id']}/deliveries/{dead['id']}/replay")
    assert replay.status_code == 202
    assert (replay.json()["status"], replay.json()["attempts"]) == ("pending", 0)
    await settle(status_is(admin, hook["id"], "delivered"))
    assert len(receiver.received) == 5
    assert receiver.received[-1].id == dead["event_id"]

    receiver.answer = lambda _: (503, {}, b"")
    await emit(server, 2)
    await advance_until(
        server, status_is(admin, hook["id"], "dead", "dead", "delivered"), step=5.0, what="2 dead"
    )
    receiver.answer = lambda _: (200, {}, b"ok")
    before = len(receiver.received)
    answer = await admin.post(f"/v1/webhooks/{hook['id']}/replay-dead")
    assert (answer.status_code, answer.json()) == (202, {"replayed": 2})
    await settle(status_is(admin, hook["id"], "delivered", "delivered", "delivered"))
    replayed = [r.json["data"]["n"] for r in receiver.received[before:]]
    assert replayed == [0, 1]  # log order
    assert (await admin.post(f"/v1/webhooks/{hook['id']}/replay-dead")).json() == {"replayed": 0}


async def test_gone_disables_the_endpoint_and_enabling_resumes_without_loss(
    server: RunningServer,
    admin: httpx.AsyncClient,
    receiver: Receiver,
    other_receiver: Receiver,
) -> None:
    watcher = await create_webhook(admin, other_receiver.url, events=["webhook.disabled"])
    receiver.answer = lambda _: (410, {}, b"gone")
    hook = await create_webhook(admin, receiver.url)
    [first] = await emit(server, 1)
    await settle(received(receiver, 1))

    async def disabled() -> dict[str, object] | None:
        body = (await admin.get(f"/v1/webhooks/{hook['id']}")).json()
        return body if not body["enabled"] else None

    body = await settle(disabled)
    assert body["disabled_reason"] == "gone"
    await settle(received(other_receiver, 1))
    note = verify(watcher["secret"], other_receiver.received[0])
    assert note["type"] == "webhook.disabled"
    assert note["data"]["webhook_id"] == hook["id"]
    assert (note["data"]["reason"], note["data"]["last_status"]) == ("gone", 410)

    [second] = await emit(server, 1)
    await server.advance(30)
    assert len(receiver.received) == 1  # disabled: nothing more goes out

    receiver.answer = lambda _: (204, {}, b"")
    enabled = await admin.post(f"/v1/webhooks/{hook['id']}/enable")
    assert enabled.status_code == 200
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None
    await settle(received(receiver, 4))
    # nothing skipped: the held event, its own webhook.disabled notice ("*"), the new one
    assert receiver.ids() == [first, first, other_receiver.received[0].id, second]


async def test_endpoint_failing_too_long_is_disabled(
    db_url: str, tmp_path: Path, clock: FakeClock, receiver: Receiver
) -> None:
    # attempts at 0, 5 and 15 s (+-20 %), the last at 35; failing for 20 s disables it first
    settings = event_settings(db_url, tmp_path / "data", webhook_disable_after_s=20.0)
    async with running_server(settings, clock) as server, server.client() as admin:
        receiver.answer = lambda _: (500, {}, b"")
        hook = await create_webhook(admin, receiver.url)
        await emit(server, 2)

        async def disabled() -> dict[str, object] | None:
            body = (await admin.get(f"/v1/webhooks/{hook['id']}")).json()
            return body if not body["enabled"] else None

        body = await advance_until(server, disabled, step=5.0, limit=200.0, what="disabled")
        assert body["disabled_reason"] == "failing"
        assert body["failing_since"] is not None
        events = (await admin.get("/v1/events", params={"type": "webhook.disabled"})).json()
        [note] = events["items"]
        assert note["data"]["reason"] == "failing"
        assert note["data"]["webhook_id"] == hook["id"]
        attempts = len(receiver.received)
        for _ in range(10):
            await server.advance(10)
        assert len(receiver.received) == attempts
        statuses = [d["status"] for d in await deliveries(admin, hook["id"])]
        assert statuses == ["failed", "failed"]  # both tried at once, both wait for its return


async def test_retry_after_is_honoured_on_429(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.answer = fail_first(1, 429)
    original = receiver.answer

    def with_header(got: Received) -> tuple[int, dict[str, str], bytes]:
        status, _, body = original(got)
        return status, ({"Retry-After": "120"} if status == 429 else {}), body

    receiver.answer = with_header
    hook = await create_webhook(admin, receiver.url)
    await emit(server, 1)
    [failed] = await settle(status_is(admin, hook["id"], "failed"))
    wait = datetime.fromisoformat(failed["next_attempt_at"]) - server.clock.now()
    assert 119 <= wait.total_seconds() <= 121
    for _ in range(10):
        await server.advance(10)
    assert len(receiver.received) == 1
    await advance_until(server, received(receiver, 2), step=5.0, what="retry after 120 s")
    await settle(status_is(admin, hook["id"], "delivered"))


async def test_ordered_endpoint_holds_later_events_behind_a_failed_one(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.answer = fail_first(2)
    await create_webhook(admin, receiver.url, max_in_flight=1)
    await emit(server, 3)
    await settle(received(receiver, 1))
    await server.advance(1)
    assert [r.json["data"]["n"] for r in receiver.received] == [0]
    await advance_until(server, received(receiver, 5), step=2.0, what="all delivered")
    assert [r.json["data"]["n"] for r in receiver.received] == [0, 0, 0, 1, 2]


async def test_unordered_endpoint_lets_later_events_pass(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    def answer(got: Received) -> tuple[int, dict[str, str], bytes]:
        return (500, {}, b"") if got.json["data"]["n"] == 0 else (204, {}, b"")

    receiver.answer = answer
    hook = await create_webhook(admin, receiver.url, ordered=False, max_in_flight=1)
    await emit(server, 3)
    await settle(received(receiver, 3))
    assert [r.json["data"]["n"] for r in receiver.received] == [0, 1, 2]
    await settle(status_is(admin, hook["id"], "delivered", "delivered", "failed"))


async def test_strict_order_with_one_in_flight(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await create_webhook(admin, receiver.url, max_in_flight=1)
    assert (hook["ordered"], hook["max_in_flight"]) == (True, 1)
    await emit(server, 30)
    await emit(server, 30)
    await settle(received(receiver, 60))
    assert [r.json["data"]["n"] for r in receiver.received] == list(range(30)) * 2
    assert receiver.max_in_flight == 1


async def test_filters_by_session_and_type(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    session = await create_session(admin, "shop", start=False)
    await create_webhook(admin, receiver.url, events=["message.status"], session_id=session["id"])
    await emit(server, 1, type="message.status", session_id="ses_other")
    await emit(server, 1, type="message.received", session_id=session["id"])
    [wanted] = await emit(server, 1, type="message.status", session_id=session["id"])
    await settle(received(receiver, 1))
    await server.advance(5)
    assert receiver.ids() == [wanted]


async def test_only_events_after_creation_are_delivered(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    await emit(server, 3)
    await create_webhook(admin, receiver.url)
    [new] = await emit(server, 1)
    await settle(received(receiver, 1))
    await server.advance(5)
    assert receiver.ids() == [new]


async def test_disable_and_enable_with_or_without_the_backlog(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await create_webhook(admin, receiver.url)
    path = f"/v1/webhooks/{hook['id']}"
    off = await admin.post(f"{path}/disable")
    assert (off.json()["enabled"], off.json()["disabled_reason"]) == (False, "manual")
    kept = await emit(server, 2)
    await server.advance(5)
    assert receiver.received == []
    await admin.post(f"{path}/enable")
    await settle(received(receiver, 2))
    assert receiver.ids() == kept

    await admin.post(f"{path}/disable")
    await emit(server, 2)
    on = await admin.post(f"{path}/enable", json={"skip_backlog": True})
    assert on.status_code == 200
    [after] = await emit(server, 1)
    await settle(received(receiver, 3))
    await server.advance(5)
    assert receiver.ids() == [*kept, after]


async def test_deleting_a_failing_webhook_stops_its_attempts(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.answer = lambda _: (500, {}, b"")
    hook = await create_webhook(admin, receiver.url)
    await emit(server, 1)
    await settle(received(receiver, 1))
    assert (await admin.delete(f"/v1/webhooks/{hook['id']}")).status_code == 204
    for _ in range(8):
        await server.advance(5)
    assert len(receiver.received) == 1


async def test_deliveries_list_pages_and_filters(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await create_webhook(admin, receiver.url)
    await emit(server, 5)
    await settle(received(receiver, 5))
    await settle(status_is(admin, hook["id"], *["delivered"] * 5))
    page = (await admin.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"limit": 3})).json()
    assert len(page["items"]) == 3
    assert page["next_cursor"]
    rest = (
        await admin.get(
            f"/v1/webhooks/{hook['id']}/deliveries",
            params={"limit": 3, "cursor": page["next_cursor"]},
        )
    ).json()
    cursors = [int(d["event_cursor"]) for d in page["items"] + rest["items"]]
    assert cursors == sorted(cursors, reverse=True)
    assert len(cursors) == 5
    assert rest["next_cursor"] is None
    dead = await admin.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"status": "dead"})
    assert dead.json()["items"] == []
    one = await admin.get(f"/v1/webhooks/{hook['id']}/deliveries/{page['items'][0]['id']}")
    assert one.status_code == 200
    assert one.json()["status"] == "delivered"
    bad = await admin.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"cursor": "x"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_cursor")


async def test_another_tenants_webhook_is_not_found_everywhere(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    tenant_a, key_a = await tenant_key(admin, "a")
    tenant_b, key_b = await tenant_key(admin, "b")
    async with server.client(key_a) as a, server.client(key_b) as b:
        hook = await create_webhook(a, receiver.url)
        [mine] = await emit(server, 1, tenant_id=tenant_a)
        await emit(server, 1, tenant_id=tenant_b)
        await settle(received(receiver, 1))
        await server.advance(5)
        assert receiver.ids() == [mine]  # B's events never reach A's endpoint
        [delivery] = await deliveries(a, hook["id"])
        base = f"/v1/webhooks/{hook['id']}"
        for method, path in [
            ("GET", base),
            ("DELETE", base),
            ("POST", f"{base}/enable"),
            ("POST", f"{base}/disable"),
            ("GET", f"{base}/deliveries"),
            ("GET", f"{base}/deliveries/{delivery['id']}"),
            ("POST", f"{base}/deliveries/{delivery['id']}/replay"),
            ("POST", f"{base}/replay-dead"),
        ]:
            response = await b.request(method, path)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"]["code"] == "not_found"
        missing = await a.get(f"{base}/deliveries/dlv_nope")
        assert missing.status_code == 404


async def test_the_secret_is_sealed_at_rest(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await create_webhook(admin, receiver.url)
    async with server.services.db.read() as tx:
        [row] = list(await tx.scalars(select(Webhook)))
    raw_secret = base64.b64decode(hook["secret"].removeprefix("whsec_"))
    assert row.secret.startswith("v1:")
    assert hook["secret"] not in row.secret
    assert raw_secret not in base64.b64decode(row.secret.removeprefix("v1:"))
    assert server.services.secret_box.open(row.secret, row.id) == hook["secret"]
    listed = (await admin.get("/v1/webhooks")).json()["items"]
    assert listed[0]["secret"] is None
    key_file = server.services.settings.data_dir / "secret-key"
    assert key_file.stat().st_mode & 0o777 == 0o600


async def test_delivery_metrics(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.answer = fail_first(1)
    hook = await create_webhook(admin, receiver.url)
    await emit(server, 1)
    await advance_until(server, received(receiver, 2), step=2.0, what="retry")
    await settle(status_is(admin, hook["id"], "delivered"))
    text = (await admin.get("/metrics")).text
    assert 'wagate_webhook_attempts_total{outcome="delivered"} 1.0' in text
    assert 'wagate_webhook_attempts_total{outcome="retry"} 1.0' in text
    assert "wagate_webhook_retries_total 1.0" in text
    assert "wagate_webhook_dead_letters_total 0.0" in text
    assert "wagate_webhook_request_seconds_count 2.0" in text


async def test_private_addresses_are_refused_at_delivery_time(
    db_url: str, tmp_path: Path, clock: FakeClock, receiver: Receiver
) -> None:
    """A name that resolved to a public address at creation may point inside later."""
    settings = event_settings(db_url, tmp_path / "data", allow_private_urls=False)
    async with running_server(settings, clock) as server, server.client() as admin:
        refused = await admin.post("/v1/webhooks", json={"url": receiver.url})
        assert refused.json()["error"]["code"] == "unsafe_url"
        port = receiver.url.split(":")[2].split("/")[0]
        services = server.services
        async with services.db.transaction() as tx:  # as if DNS had changed since creation
            tenant = await tenants.ensure_tenant(tx, tenants.DEFAULT_TENANT, clock.now())
            for url in (receiver.url, f"http://localhost:{port}/hook"):
                webhook_id = new_id("whk")
                await webhooks.create_webhook(
                    tx,
                    webhook_id=webhook_id,
                    tenant_id=tenant.id,
                    url=url,
                    events=["*"],
                    secret=services.secret_box.seal("whsec_" + "A" * 43, webhook_id),
                    session_id=None,
                    now=clock.now(),
                )
        services.webhooks.reconfigure()
        await emit(server, 1)
        hooks = (await admin.get("/v1/webhooks")).json()["items"]
        for hook in hooks:
            [failed] = await settle(status_is(admin, hook["id"], "failed"))
            assert failed["last_error"].startswith("unsafe_url"), failed
            assert failed["last_status"] is None
    assert receiver.received == []
