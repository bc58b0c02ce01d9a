"""wagate as a worker of wa-worker's control plane (issue 17), against a fake control
plane that follows seed 002's contract (tests/support/fake_control_plane.py), on both
databases: instances by priority, locks, the outbound queue with mark-sent and
mark-failed, statuses, and inbound messages with media."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import wait_status
from tests.support.fake_control_plane import SECRET, FakeControlPlane, running_fake_control_plane
from tests.support.server import RunningServer, eventually, make_settings, running_server
from wagate.domain import FakeClock

CONTACT = "5511988887777"
PICTURE = b"\x89PNG\r\n\x1a\n from a contact"


@pytest.fixture
async def plane() -> AsyncIterator[FakeControlPlane]:
    async with running_fake_control_plane(instances={"inst-a": 10, "inst-b": 5}) as fake:
        yield fake


@pytest.fixture
async def server(
    db_url: str, tmp_path: Path, clock: FakeClock, plane: FakeControlPlane
) -> AsyncIterator[RunningServer]:
    settings = make_settings(
        db_url,
        tmp_path / "data",
        control_plane_url=plane.url,
        control_plane_secret=SECRET,
        control_plane_transport="simulator",
        control_plane_discovery_s=0.1,
        control_plane_queue_poll_s=0.1,
        control_plane_stop_cooldown_s=0,
        worker_id="wagate-1",
    )
    async with running_server(settings, clock) as running:
        yield running


async def _session(admin: httpx.AsyncClient, name: str) -> dict[str, Any]:
    async def made() -> dict[str, Any]:
        items = (await admin.get("/v1/sessions")).json()["items"]
        found = [s for s in items if s["name"] == name]
        assert found, items
        return dict(found[0])

    result: dict[str, Any] = await eventually(made)
    return result


async def _connected(admin: httpx.AsyncClient, name: str) -> str:
    session = await _session(admin, name)
    await wait_status(admin, session["id"], "qr")
    await admin.post(f"/v1/simulator/{session['id']}/scan")
    await wait_status(admin, session["id"], "connected")
    return str(session["id"])


async def test_the_top_instance_runs_under_its_lock_and_reports_its_status(
    server: RunningServer, admin: httpx.AsyncClient, plane: FakeControlPlane
) -> None:
    sid = await _connected(admin, "inst-a")
    other = await _session(admin, "inst-b")
    assert other["desired_state"] == "stopped"  # max_active_instances is 1
    assert plane.holder("inst-a") == "wagate-1"
    assert plane.holder("inst-b") is None

    async def reported() -> list[str]:
        mine = [s["status"] for s in plane.statuses if s["instanceId"] == "inst-a"]
        assert "CONNECTED" in mine, plane.statuses
        return mine

    statuses = await eventually(reported)
    assert statuses[0] == "CONNECTING"
    first_qr = next(s for s in plane.statuses if s["status"] == "CONNECTING")
    assert first_qr["qr_code"].startswith("data:image/png;base64,")
    assert (await admin.get(f"/v1/sessions/{sid}")).json()["priority"] == 10

    # priorities change: inst-b takes the only place; inst-a stops and lets its lock go
    plane.instances = {"inst-a": 1, "inst-b": 50}

    async def swapped() -> bool:
        a = (await admin.get(f"/v1/sessions/{sid}")).json()
        assert a["desired_state"] == "stopped"
        assert plane.holder("inst-a") is None
        assert plane.holder("inst-b") == "wagate-1"
        return True

    await eventually(swapped)
    assert ("release", "inst-a", "wagate-1") in plane.lock_log


async def test_queued_messages_are_sent_once_and_marked(
    server: RunningServer, admin: httpx.AsyncClient, plane: FakeControlPlane
) -> None:
    sid = await _connected(admin, "inst-a")
    plane.primary_jids["187654321098765@lid"] = f"{CONTACT}@s.whatsapp.net"
    first = plane.enqueue("inst-a", CONTACT, "hello from the control plane")
    by_lid = plane.enqueue("inst-a", "187654321098765@lid", "by lid")
    lost = plane.enqueue("inst-a", "111111111111111@lid", "nobody knows this lid")
    empty = plane.enqueue("inst-a", CONTACT, "")

    async def marked() -> bool:
        assert sorted(plane.sent_ids()) == sorted([first, by_lid]), (plane.sent, plane.failed)
        assert sorted(f["id"] for f in plane.failed) == sorted([lost, empty])
        return True

    await eventually(marked)
    sent = {r.text: r for r in server.network.sent(sid)}
    assert set(sent) == {"hello from the control plane", "by lid"}
    assert sent["by lid"].to == f"{CONTACT}@s.whatsapp.net"
    marks = {m["id"]: m["wa_message_id"] for m in plane.sent}
    assert marks[first] == sent["hello from the control plane"].wa_message_id
    reasons = {f["id"]: f["error"] for f in plane.failed}
    assert reasons == {lost: "lid_without_mapping", empty: "invalid_message"}
    # read again and again while queued: still one wagate message each
    page = (await admin.get(f"/v1/sessions/{sid}/messages?direction=out")).json()["items"]
    assert len(page) == 2


async def test_inbound_messages_reach_the_control_plane_with_their_media(
    server: RunningServer, admin: httpx.AsyncClient, plane: FakeControlPlane
) -> None:
    sid = await _connected(admin, "inst-a")
    own = (await admin.get(f"/v1/sessions/{sid}")).json()["phone"]
    await admin.post(
        f"/v1/simulator/{sid}/inbound",
        json={"from": CONTACT, "text": "oi", "push_name": "Ana", "id": "WAID1"},
    )
    picture = {"base64": base64.b64encode(PICTURE).decode(), "mime_type": "image/png"}
    await admin.post(
        f"/v1/simulator/{sid}/inbound",
        json={"from": CONTACT, "type": "image", "media": picture, "id": "WAID2"},
    )

    async def both() -> list[dict[str, Any]]:
        assert len(plane.inbound) == 2, plane.inbound
        return plane.inbound

    text, image = await eventually(both)
    assert {k: text[k] for k in ("instanceId", "from", "to", "body", "chat_id", "chat_type")} == {
        "instanceId": "inst-a",
        "from": f"{CONTACT}@s.whatsapp.net",
        "to": f"{own}@s.whatsapp.net",
        "body": "oi",
        "chat_id": f"{CONTACT}@s.whatsapp.net",
        "chat_type": "direct",
    }
    assert (text["push_name"], text["wa_message_id"]) == ("Ana", "WAID1")
    assert text["sender_contact_id"] == f"contact-{CONTACT}"
    assert text["sender_jid_raw"] == f"{CONTACT}@s.whatsapp.net"
    assert isinstance(text["timestamp"], int)
    assert (image["body"], image["media_type"], image["mime_type"]) == ("", "image", "image/png")
    async with httpx.AsyncClient() as anyone:
        assert (await anyone.get(image["media_url"])).content == PICTURE
    assert image["file_size"] == len(PICTURE)


async def test_an_instance_locked_elsewhere_waits_for_its_lock(
    server: RunningServer, admin: httpx.AsyncClient, plane: FakeControlPlane
) -> None:
    plane.hold("inst-a", "baileys-worker-7")  # a wa-worker still runs it
    session = await _session(admin, "inst-a")

    async def refused() -> bool:
        assert ("acquire", "inst-a", "wagate-1") in plane.lock_log
        return True

    await eventually(refused)
    assert (await admin.get(f"/v1/sessions/{session['id']}")).json()["status"] != "qr"
    assert server.services.manager.runtime(session["id"]) is None
    plane.free("inst-a")  # the old worker is gone

    async def taken() -> bool:
        await server.advance(10)  # lease passes retry on the clock
        assert plane.holder("inst-a") == "wagate-1"
        return True

    await eventually(taken)
    await wait_status(admin, session["id"], "qr")
