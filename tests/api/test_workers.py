"""Several workers on one database: leases decide which one runs a session."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, update

from tests.api.helpers import create_session, send, wait_sent, wait_status
from tests.support.fleet import two_workers
from tests.support.server import RunningServer, eventually, make_settings, running_server
from wagate.domain import FakeClock
from wagate.store.models import Session


@pytest.fixture
async def workers(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[tuple[RunningServer, RunningServer, AsyncExitStack]]:
    """Workers A and B on one database; the third item stops A (as if it died)."""
    async with AsyncExitStack() as outer:
        b = await outer.enter_async_context(
            running_server(make_settings(db_url, tmp_path / "data", worker_id="worker-b"), clock)
        )
        stop_a = await outer.enter_async_context(AsyncExitStack())
        a = await stop_a.enter_async_context(
            running_server(make_settings(db_url, tmp_path / "data", worker_id="worker-a"), clock)
        )
        yield a, b, stop_a


async def _lease_owner(server: RunningServer, session_id: str) -> str | None:
    async with server.services.db.read() as tx:
        row = await tx.get(Session, session_id)
        return row.lease_owner if row else None


async def test_one_worker_runs_a_session_and_the_other_takes_over(
    workers: tuple[RunningServer, RunningServer, AsyncExitStack], clock: FakeClock
) -> None:
    a, b, stop_a = workers
    async with a.client() as api_a, b.client() as api_b:
        session = await create_session(api_a, "shared")
        sid = session["id"]
        await wait_status(api_a, sid, "qr")
        assert await _lease_owner(a, sid) == "worker-a"
        assert a.services.manager.runtime(sid) is not None
        assert b.services.manager.runtime(sid) is None
        assert (await api_a.post(f"/v1/simulator/{sid}/scan")).status_code == 202
        await wait_status(api_b, sid, "connected")

        # a message accepted by worker B is sent by worker A, which holds the session
        message = await send(api_b, sid, to="5511988887777", text="via b")

        async def sent_by_a() -> bool:
            await a.advance(0.2)  # A's supervisor polls the shared queue
            return [r.message_id for r in a.network.sent(sid)] == [message["id"]]

        await eventually(sent_by_a)
        await wait_sent(api_b, message["id"])

        # worker A dies holding the lease: B waits for it to expire, then takes over
        await stop_a.aclose()
        async with b.services.db.transaction() as tx:
            await tx.execute(
                update(Session)
                .where(Session.id == sid)
                .values(
                    lease_owner="worker-a", lease_expires_at=clock.now() + timedelta(seconds=30)
                )
            )
        # lease passes run every ttl/3 in the background; here they are run by hand
        await b.advance(29)
        await b.services.manager.lease_pass()
        assert b.services.manager.runtime(sid) is None
        await b.advance(2)
        await b.services.manager.lease_pass()
        assert b.services.manager.runtime(sid) is not None
        assert await _lease_owner(b, sid) == "worker-b"
        await wait_status(api_b, sid, "connected")  # the saved login: no new QR


async def test_stop_through_another_worker(
    workers: tuple[RunningServer, RunningServer, AsyncExitStack],
) -> None:
    a, b, _ = workers
    async with a.client() as api_a, b.client() as api_b:
        session = await create_session(api_a, "remote-stop")
        sid = session["id"]
        await wait_status(api_a, sid, "qr")
        response = await api_b.post(f"/v1/sessions/{sid}/stop")
        assert response.status_code == 202
        assert response.json()["desired_state"] == "stopped"
        await a.services.manager.lease_pass()  # A sees the desired state on its next pass
        assert a.services.manager.runtime(sid) is None
        await wait_status(api_b, sid, "stopped")
        assert await _lease_owner(a, sid) is None
        # starting it through B runs it on B now that nobody holds it
        await api_b.post(f"/v1/sessions/{sid}/start")
        await wait_status(api_b, sid, "qr")
        assert b.services.manager.runtime(sid) is not None


async def test_graceful_shutdown_hands_sessions_over_at_once(
    workers: tuple[RunningServer, RunningServer, AsyncExitStack],
) -> None:
    a, b, stop_a = workers
    async with a.client() as api_a, b.client() as api_b:
        session = await create_session(api_a, "handover")
        sid = session["id"]
        await wait_status(api_a, sid, "qr")
        await stop_a.aclose()
        assert await _lease_owner(b, sid) is None
        await b.services.manager.lease_pass()
        assert b.services.manager.runtime(sid) is not None
        await wait_status(api_b, sid, "qr")


async def test_every_worker_lists_the_fleet_with_what_each_holds(
    workers: tuple[RunningServer, RunningServer, AsyncExitStack], clock: FakeClock
) -> None:
    a, b, stop_a = workers
    async with a.client() as api_a, b.client() as api_b:
        session = await create_session(api_a, "counted")
        await wait_status(api_a, session["id"], "qr")
        assert (await api_a.post(f"/v1/simulator/{session['id']}/scan")).status_code == 202
        await wait_status(api_a, session["id"], "connected")
        for n in range(3):
            await wait_sent(
                api_a, (await send(api_a, session["id"], to="5511988887777", text=f"m{n}"))["id"]
            )
        await a.services.manager.lease_pass()  # a heartbeat, as every lease pass makes

        async def listed() -> dict[str, dict[str, object]]:
            answer = await api_b.get("/v1/workers")  # B answers for the whole fleet
            assert answer.status_code == 200, answer.text
            items = {w["id"]: w for w in answer.json()["items"]}
            assert {"worker-a", "worker-b"} <= set(items)
            return items

        items = await eventually(listed)
        assert items == await listed()  # and A answers the same
        mine, other = items["worker-a"], items["worker-b"]
        assert mine["alive"] is True
        assert mine["sessions"] == 1
        assert other["sessions"] == 0
        assert mine["capacity"] == a.services.settings.worker_capacity
        assert mine["messages_per_s"] > 0
        assert mine["version"] == other["version"]
        assert mine["pid"] == other["pid"]  # both in this test's process
        assert set(mine) >= {"id", "host", "version", "started_at", "heartbeat_at", "capacity"}

        tenant_key = (await api_a.post("/v1/admin/tenants/default/keys", json={})).json()["key"]
        async with a.client(tenant_key) as tenant:
            assert (await tenant.get("/v1/workers")).status_code == 403

        await stop_a.aclose()  # a clean stop says so at once
        gone = {w["id"]: w for w in (await api_b.get("/v1/workers")).json()["items"]}
        assert gone["worker-a"]["alive"] is False
        assert gone["worker-a"]["stopped_at"] is not None
        assert gone["worker-a"]["sessions"] == 0  # its lease was handed back
        order = [w["id"] for w in (await api_b.get("/v1/workers")).json()["items"]]
        assert order == ["worker-b", "worker-a"]  # live workers first

        await b.advance(3 * b.services.settings.lease_ttl_s)  # B keeps beating, A stays silent
        await b.services.manager.lease_pass()
        again = {w["id"]: w for w in (await api_b.get("/v1/workers")).json()["items"]}
        assert again["worker-b"]["alive"] is True
        assert again["worker-a"]["alive"] is False


async def test_a_session_without_a_place_in_the_fleet_says_so_and_starts_when_one_frees(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(db_url, tmp_path / "data", worker_id="small", worker_capacity=1)
    async with running_server(settings, clock) as server, server.client() as api:
        first = await create_session(api, "first")
        await wait_status(api, first["id"], "qr")
        second = await create_session(api, "second")
        await server.services.manager.lease_pass()
        waiting = (await api.get(f"/v1/sessions/{second['id']}")).json()
        assert waiting["status"] == "stopped"
        assert waiting["status_reason"] == "waiting_for_capacity"
        assert waiting["desired_state"] == "running"
        events = (
            await api.get(
                "/v1/events", params={"session_id": second["id"], "type": "session.status"}
            )
        ).json()["items"]
        assert [(e["data"]["reason"], e["data"]["fleet_capacity"]) for e in events] == [
            ("waiting_for_capacity", 1)
        ]
        await server.services.manager.lease_pass()  # said once, not at every pass
        again = (
            await api.get(
                "/v1/events", params={"session_id": second["id"], "type": "session.status"}
            )
        ).json()["items"]
        assert len(again) == 1

        await api.post(f"/v1/sessions/{first['id']}/stop")  # a place frees up
        await server.services.manager.lease_pass()
        await wait_status(api, second["id"], "qr")
        assert server.services.manager.runtime(second["id"]) is not None


async def _moves(api: httpx.AsyncClient) -> str:
    text = (await api.get("/metrics")).text
    found = [line for line in text.splitlines() if line.startswith("wagate_session_moves_total")]
    return found[0] if found else ""


async def test_a_better_ranked_session_takes_the_place_after_the_cooldown_never_mid_send(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        db_url, tmp_path / "data", worker_id="small", worker_capacity=2, moves_per_minute=1
    )
    async with running_server(settings, clock) as server, server.client() as api:
        manager = server.services.manager
        low = [await create_session(api, f"low-{n}") for n in range(2)]
        for session in low:
            await wait_status(api, session["id"], "qr")
        high = [await create_session(api, f"high-{n}", priority=10) for n in range(2)]
        await manager.lease_pass()
        assert {s["id"] for s in low} == {r.session_id for r in manager.running()}

        await server.advance(30)  # inside the cooldown: nothing moves
        await manager.lease_pass()
        assert {s["id"] for s in low} == {r.session_id for r in manager.running()}

        # the worst-ranked (the younger low one) is sending right now: it is not stopped
        async with server.services.db.transaction() as tx:
            await tx.execute(update(Session).where(Session.id == low[1]["id"]).values(priority=0))
        from wagate.store.models import Message
        from wagate.store.repositories import messages as message_rows

        sending = await send(api, low[1]["id"], to="5511988887777", text="in flight")
        async with server.services.db.transaction() as tx:
            await tx.execute(
                update(Message).where(Message.id == sending["id"]).values(status="sending")
            )
        await server.advance(31)
        await manager.lease_pass()
        running = {r.session_id for r in manager.running()}
        assert low[1]["id"] in running  # mid-send: kept
        assert low[0]["id"] not in running  # the other one gave its place up
        assert running == {low[1]["id"], high[0]["id"]}
        given_up = (await api.get(f"/v1/sessions/{low[0]['id']}")).json()
        assert given_up["status_reason"] == "waiting_for_capacity"
        assert given_up["desired_state"] == "running"
        assert await _moves(api) == 'wagate_session_moves_total{reason="displaced"} 1.0'

        async with server.services.db.transaction() as tx:  # the send ended
            await tx.execute(delete(Message).where(Message.id == sending["id"]))
        async with server.services.db.read() as tx:
            assert not await message_rows.sending_now(tx, low[1]["id"])
        await server.advance(10)  # one move a minute (WAGATE_MOVES_PER_MINUTE=1)
        await manager.lease_pass()
        assert low[1]["id"] in {r.session_id for r in manager.running()}
        await server.advance(51)
        await manager.lease_pass()
        assert {r.session_id for r in manager.running()} == {s["id"] for s in high}
        assert await _moves(api) == 'wagate_session_moves_total{reason="displaced"} 2.0'
        events = (
            await api.get(
                "/v1/events", params={"session_id": low[0]["id"], "type": "session.status"}
            )
        ).json()["items"]
        reasons = [e["data"]["reason"] for e in events]
        assert reasons[-2:] == ["displaced_by_priority", "waiting_for_capacity"]


async def test_one_need_moves_one_session_across_the_fleet(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    fleet = two_workers(db_url, tmp_path, clock, both={"worker_capacity": 1})
    async with fleet as (a, b), a.client() as api_a, b.client() as api_b:
        older = await create_session(api_a, "older")  # runs on A
        await wait_status(api_a, older["id"], "qr")
        younger = await create_session(api_b, "younger")  # runs on B
        await wait_status(api_b, younger["id"], "qr")
        high = await create_session(api_a, "urgent", priority=10)  # nobody has room
        for worker in (a, b):
            await worker.services.manager.lease_pass()
        assert a.services.manager.runtime(high["id"]) is None
        assert b.services.manager.runtime(high["id"]) is None

        await a.advance(61)  # past the cooldown
        for worker in (a, b):
            await worker.services.manager.lease_pass()
        # the fleet's worst-ranked session (the younger) made room; the older stayed
        assert a.services.manager.runtime(older["id"]) is not None
        assert b.services.manager.runtime(younger["id"]) is None
        assert b.services.manager.runtime(high["id"]) is not None
        assert 'reason="displaced"} 1.0' in await _moves(api_b)
        assert (
            'wagate_session_moves_total{reason="displaced"}'
            not in (await api_a.get("/metrics")).text
        )
        assert (await api_a.get(f"/v1/sessions/{younger['id']}")).json()[
            "status_reason"
        ] == "waiting_for_capacity"


async def _run_fleet(seconds: float, *workers: RunningServer) -> None:
    """Let ``seconds`` pass in steps of a lease renewal, every worker renewing at each (a
    single jump past the TTL would be a pause of the whole fleet)."""
    step = workers[0].services.settings.lease_ttl_s / 3
    for _ in range(math.ceil(seconds / step)):
        await workers[0].advance(step)
        for worker in workers:
            await worker.services.manager.lease_pass()


async def test_a_new_worker_takes_its_share_in_bounded_moves_and_nothing_moves_back(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings_a = make_settings(
        db_url, tmp_path / "a", worker_id="worker-a", worker_capacity=6, moves_per_minute=1
    )
    async with running_server(settings_a, clock) as a, a.client() as api_a:
        made = [await create_session(api_a, f"s{n}") for n in range(4)]
        for session in made:  # linked, so they reconnect wherever they move
            await wait_status(api_a, session["id"], "qr")
            await api_a.post(f"/v1/simulator/{session['id']}/scan")
            await wait_status(api_a, session["id"], "connected")
        assert len(a.services.manager.running()) == 4

        settings_b = make_settings(db_url, tmp_path / "b", worker_id="worker-b", worker_capacity=2)
        async with running_server(settings_b, clock) as b, b.client() as api_b:
            await b.services.manager.lease_pass()  # B beats: the fleet has 8 places now
            # shares by capacity: A ceil(4 * 6/8) = 3, B ceil(4 * 2/8) = 1
            await a.services.manager.lease_pass()
            await b.services.manager.lease_pass()
            youngest = made[-1]["id"]  # the worst-ranked goes first
            assert b.services.manager.runtime(youngest) is not None
            assert len(a.services.manager.running()) == 3
            await wait_status(api_b, youngest, "connected")  # its login moved with it
            assert 'wagate_session_moves_total{reason="rebalanced"} 1.0' in await _moves(api_a)

            await _run_fleet(120, a, b)  # balanced: two more minutes move nothing, either way
            assert len(a.services.manager.running()) == 3
            assert [r.session_id for r in b.services.manager.running()] == [youngest]
            assert 'reason="rebalanced"} 1.0' in await _moves(api_a)
            assert await _moves(api_b) == ""  # B never gave anything up

            # a session started through B runs on B (a start runs where it is asked, when
            # there is room); with five sessions B's share is two, so it stays there
            extra = await create_session(api_b, "s4")
            await wait_status(api_b, extra["id"], "qr")
            await api_b.post(f"/v1/simulator/{extra['id']}/scan")
            await wait_status(api_b, extra["id"], "connected")
            await _run_fleet(61, a, b)  # shares of 5: A ceil(3.75) = 4, B ceil(1.25) = 2
            assert len(b.services.manager.running()) == 2
            assert len(a.services.manager.running()) == 3

        # B leaves cleanly: A takes its sessions on its next pass (within one renewal)
        await a.services.manager.lease_pass()
        assert len(a.services.manager.running()) == 5
