"""Calls that need the live connection, made on a worker that does not run the session:
the owner runs them and the caller gets the same answer (issue 14, item 1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from tests.api.helpers import create_session, wait_status
from tests.support.fleet import two_workers
from tests.support.server import RunningServer
from wagate.domain import FakeClock
from wagate.store.models import Session, SessionCommand

CONTACT = "5511988887777"


@pytest.fixture
async def pair(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    """A runs the sessions (created through it); B only answers calls (short timeout)."""
    async with two_workers(db_url, tmp_path, clock, remote_call_timeout_s=1.0) as both:
        yield both


async def _answer(
    client: httpx.AsyncClient, method: str, path: str, body: object
) -> tuple[int, object]:
    response = await client.request(method, path, json=body)
    return response.status_code, response.json()


async def test_the_other_worker_answers_as_the_owner_does(
    pair: tuple[RunningServer, RunningServer],
) -> None:
    a, b = pair
    async with a.client() as api_a, b.client() as api_b:
        linked = await create_session(api_a, "linked")
        waiting = await create_session(api_a, "waiting")
        await wait_status(api_a, linked["id"], "qr")
        await wait_status(api_a, waiting["id"], "qr")
        assert (await api_a.post(f"/v1/simulator/{linked['id']}/scan")).status_code == 202
        await wait_status(api_a, linked["id"], "connected")
        assert b.services.manager.runtime(linked["id"]) is None  # B runs nothing

        presence = {"chat_id": CONTACT, "state": "composing"}
        path = f"/v1/sessions/{linked['id']}/presence"
        assert await _answer(api_b, "POST", path, presence) == await _answer(
            api_a, "POST", path, presence
        )
        log = a.network.presence_log(linked["id"])
        assert [(p.chat_id, p.state) for p in log][-2:] == [
            (f"{CONTACT}@s.whatsapp.net", "composing")
        ] * 2

        read = {"chat_id": CONTACT, "message_ids": ["WAID1"]}
        status, body = await _answer(api_b, "POST", f"/v1/sessions/{linked['id']}/read", read)
        assert status == 202
        assert body == {"chat_id": f"{CONTACT}@s.whatsapp.net", "message_ids": ["WAID1"]}
        assert a.network.read_log(linked["id"])[-1].wa_message_ids == ("WAID1",)

        # errors cross too, with the owner's status and code
        code_path = f"/v1/sessions/{linked['id']}/pairing-code"
        on_b = await _answer(api_b, "POST", code_path, {"phone": CONTACT})
        assert on_b == await _answer(api_a, "POST", code_path, {"phone": CONTACT})
        assert on_b[0] == 409
        assert on_b[1]["error"]["code"] == "already_connected"  # type: ignore[index]

        # a pairing code asked on B is issued by A's session, and links it
        status, body = await _answer(
            api_b, "POST", f"/v1/sessions/{waiting['id']}/pairing-code", {"phone": CONTACT}
        )
        assert status == 200, body
        code = body["code"]  # type: ignore[index]
        assert (
            await api_a.post(f"/v1/simulator/{waiting['id']}/pair", json={"code": code})
        ).status_code == 202
        await wait_status(api_b, waiting["id"], "connected")

        # a number check asked on B is answered by A's connection, the same
        check = await _answer(
            api_b, "POST", f"/v1/sessions/{linked['id']}/contacts/check", [CONTACT]
        )
        assert check == await _answer(
            api_a, "POST", f"/v1/sessions/{linked['id']}/contacts/check", [CONTACT]
        )

        async with b.services.db.read() as tx:
            rows = list(await tx.scalars(select(SessionCommand)))
        assert {row.kind for row in rows} == {"presence", "read", "pairing_code", "check_numbers"}
        assert {row.status for row in rows} <= {"done", "failed"}


async def test_a_stopped_session_and_a_silent_owner(
    pair: tuple[RunningServer, RunningServer], clock: FakeClock
) -> None:
    a, b = pair
    async with a.client() as api_a, b.client() as api_b:
        stopped = await create_session(api_a, "stopped", start=False)
        answer = await api_b.post(
            f"/v1/sessions/{stopped['id']}/presence", json={"chat_id": CONTACT, "state": "paused"}
        )
        assert answer.status_code == 409
        assert answer.json()["error"]["code"] == "session_not_connected"
        code = await api_b.post(
            f"/v1/sessions/{stopped['id']}/pairing-code", json={"phone": CONTACT}
        )
        assert code.status_code == 409
        assert code.json()["error"]["code"] == "session_not_running"

        # a worker holds the lease but answers nothing (frozen, or gone without a word)
        async with b.services.db.transaction() as tx:
            await tx.execute(
                update(Session)
                .where(Session.id == stopped["id"])
                .values(
                    lease_owner="worker-frozen",
                    lease_expires_at=clock.now() + timedelta(seconds=30),
                )
            )
        silent = await api_b.post(
            f"/v1/sessions/{stopped['id']}/presence", json={"chat_id": CONTACT, "state": "paused"}
        )
        assert silent.status_code == 504
        assert silent.json()["error"]["code"] == "owner_timeout"
        async with b.services.db.read() as tx:
            left = list(await tx.scalars(select(SessionCommand)))
        assert [row.status for row in left] == ["abandoned"]  # never run late
