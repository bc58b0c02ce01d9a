"""Behind a load balancer any worker may get any call: the whole session API, driven
through a worker that does not run the session, answers as the owner does (issue 14).

The route templates the walk used are checked against the OpenAPI document, so a
session route added later without crossing workers fails here.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import SENT_OR_LATER, advance_until, find_inbound, wait_sent, wait_status
from tests.support.fake_chatwoot import (
    CHATWOOT_ACCOUNT_ID,
    CHATWOOT_TOKEN,
    running_fake_chatwoot,
)
from tests.support.fleet import two_workers
from tests.support.s3 import s3_overrides
from tests.support.server import RunningServer, eventually
from wagate.domain import FakeClock
from wagate.store.media import S3Settings

CONTACT = "5511988887777"
SESSION_SCOPED = re.compile(r"^/v1/(sessions/\{session_id\}|simulator/|messages/)")


class Recorder:
    """Which route templates the walk called, read from the requests B received."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.templates = [
            (method.upper(), path, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"))
            for path, operations in spec["paths"].items()
            for method in operations
        ]
        self.called: set[tuple[str, str]] = set()

    async def __call__(self, request: httpx.Request) -> None:
        for method, path, pattern in self.templates:
            if method == request.method and pattern.match(request.url.path):
                self.called.add((method, path))


@pytest.fixture
async def fleet(
    db_url: str, tmp_path: Path, clock: FakeClock, s3_bucket: S3Settings
) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    """Two workers sharing a database and a media bucket, as a fleet is deployed."""
    async with two_workers(db_url, tmp_path, clock, both=s3_overrides(s3_bucket)) as pair:
        yield pair


async def test_the_whole_session_api_answers_the_same_through_another_worker(
    fleet: tuple[RunningServer, RunningServer],
) -> None:
    a, b = fleet
    async with a.client() as api_a, b.client() as api_b:
        spec = (await api_b.get("/openapi.json")).json()
        seen = Recorder(spec)
        api_b.event_hooks["request"].append(seen)

        async def same(method: str, path: str, **kw: Any) -> Any:
            """The call through B, and the same read through A: equal answers. A read is
            asked again of both while they differ, a few times: a receipt may land between
            the two reads (the state moved, not the answer of one worker)."""
            for _ in range(1 if method != "GET" else 20):
                on_b = await api_b.request(method, path, **kw)
                on_a = await api_a.request(method, path, **kw)
                if (on_b.status_code, on_b.json()) == (on_a.status_code, on_a.json()):
                    break
                await asyncio.sleep(0.05)
            assert (on_b.status_code, on_b.json()) == (on_a.status_code, on_a.json()), path
            return on_b.json()

        async def through_b(method: str, path: str, expected: int = 202, **kw: Any) -> Any:
            answer = await api_b.request(method, path, **kw)
            assert answer.status_code == expected, (path, answer.text)
            return answer.json() if answer.content else None

        made = (await api_a.post("/v1/sessions", json={"name": "shop"})).json()
        sid = made["id"]
        await wait_status(api_b, sid, "qr")
        assert b.services.manager.runtime(sid) is None  # A runs it; B answers
        base, sim = f"/v1/sessions/{sid}", f"/v1/simulator/{sid}"

        await same("GET", base)
        await same("GET", f"{base}/qr")
        phone = await same("GET", f"{sim}/phone")
        await through_b("POST", f"{sim}/scan")
        await wait_status(api_b, sid, "connected")
        await same("GET", "/v1/sessions")

        await through_b("PUT", f"{base}/settings", 200, json={"rate_per_minute": 30})
        await same("GET", f"{base}/settings")
        on_b = (await api_b.get(f"{base}/health")).json()
        on_a = (await api_a.get(f"{base}/health")).json()
        assert on_b.pop("running_here") is False
        assert on_a.pop("running_here") is True
        assert on_b == on_a  # reconnects and protocol counters come from A
        assert on_b["protocol"] is not None

        sent = await through_b("POST", f"{base}/messages", json={"to": CONTACT, "text": "hi"})
        await wait_sent(api_b, sent["id"])
        await same("GET", f"/v1/messages/{sent['id']}")
        await same("GET", f"{base}/messages")
        await through_b(
            "POST", f"{base}/messages/bulk", 200, json={"messages": [{"to": CONTACT, "text": "b"}]}
        )
        # media accepted by B are sent by A: both reach the shared bucket
        picture = base64.b64encode(b"\xff\xd8\xff\xe0 a picture").decode()
        image = await through_b(
            "POST",
            f"{base}/messages",
            json={
                "to": CONTACT,
                "type": "image",
                "media": {"base64": picture, "mime_type": "image/jpeg"},
            },
        )
        await wait_sent(api_b, image["id"])
        arrived = [r.type for r in a.network.sent(sid) if r.message_id == image["id"]]
        assert arrived == ["image"]
        for client in (api_a, api_b):
            got = await client.get(f"/v1/messages/{image['id']}/media")
            assert got.status_code == 200
            assert got.content == b"\xff\xd8\xff\xe0 a picture"
            assert got.headers["content-type"] == "image/jpeg"
        await through_b(
            "POST",
            f"{sim}/receipt",
            json={
                "wa_message_id": (await same("GET", f"/v1/messages/{sent['id']}"))["wa_message_id"],
                "status": "read",
            },
        )

        wa_id = (
            await through_b("POST", f"{sim}/inbound", json={"from": CONTACT, "text": "hello"})
        )["wa_message_id"]
        await find_inbound(api_b, sid, wa_id)
        await through_b("POST", f"{base}/presence", json={"chat_id": CONTACT, "state": "composing"})
        await through_b("POST", f"{base}/read", json={"chat_id": CONTACT, "message_ids": [wa_id]})
        await same("POST", f"{base}/contacts/check", json=[CONTACT])
        created = await through_b(
            "POST", f"{base}/groups", 201, json={"subject": "Both", "participants": [CONTACT]}
        )
        group = f"{base}/groups/{created['jid']}"
        await same("GET", group)
        await through_b("PATCH", group, 200, json={"description": "from B"})
        await through_b("PUT", f"{group}/picture", 200, json={"base64": picture})
        await through_b(
            "POST",
            f"{group}/participants",
            200,
            json={"action": "promote", "participants": [CONTACT]},
        )
        await same("GET", f"{group}/invite-link")
        await through_b("POST", f"{group}/invite-link/revoke", 200)
        await through_b(
            "POST",
            f"{sim}/group-event",
            json={"group": created["jid"], "change": "left", "participants": [CONTACT]},
        )
        await through_b("POST", f"{group}/leave", 204)
        await through_b("PATCH", f"{base}/profile", 200, json={"about": "set through B"})
        await same("GET", f"{base}/profile")
        await through_b("PUT", f"{base}/profile/picture", 200, json={"base64": picture})
        await same("GET", f"{base}/contacts/{CONTACT}/profile")
        await through_b("POST", f"{base}/contacts/{CONTACT}/block", 200)
        await through_b("POST", f"{base}/contacts/{CONTACT}/unblock", 200)
        await same("GET", f"{base}/contacts")
        edited = await through_b("PATCH", f"/v1/messages/{sent['id']}", json={"text": "hi!"})
        await wait_sent(api_b, edited["id"])
        await through_b("DELETE", f"/v1/messages/{sent['id']}")
        await same("POST", f"{base}/pairing-code", json={"phone": CONTACT})  # 409: linked

        await same("GET", f"{base}/assistant")
        await through_b("PUT", f"{base}/assistant", 200, json={"enabled": False})
        await same("GET", f"{base}/chats")
        await same("GET", f"{base}/chats/{CONTACT}")
        await through_b("POST", f"{base}/chats/{CONTACT}/pause", 200)
        await through_b("POST", f"{base}/chats/{CONTACT}/resume", 200)
        reply = await through_b("POST", f"{base}/chats/{CONTACT}/reply", json={"text": "a person"})
        # so both reads see the same timeline (the burst guardrail holds it a while)
        await advance_until(a, api_b, reply["id"], SENT_OR_LATER)
        await same("GET", f"{base}/chats/{CONTACT}/timeline")

        await through_b("POST", f"{sim}/presence", json={"from": CONTACT, "state": "composing"})
        await through_b("POST", f"{sim}/call", json={"from": CONTACT})
        await through_b("POST", f"{sim}/faults/send", json={"count": 1, "transient": True})
        await through_b("POST", f"{sim}/faults/decrypt", json={"count": 1, "from": CONTACT})
        await through_b("POST", f"{sim}/faults/slow", json={"latency_ms": 0})
        declared = await through_b(
            "POST", f"{sim}/accounts", 201, json={"phone": "5511977776666", "on_whatsapp": False}
        )
        assert (declared["on_whatsapp"], declared["jid"]) == (False, None)
        await through_b("POST", f"{sim}/faults/unknown-event", json={"kind": "newsletter"})
        await same("GET", f"{sim}/sent")
        await same("GET", f"{sim}/activity")
        await through_b("POST", f"{sim}/disconnect", json={"code": 428})

        async def back() -> bool:
            await a.advance(5)  # the reconnect backoff runs on A's clock
            return (await api_b.get(base)).json()["status"] == "connected"

        await eventually(back, timeout=20)
        await through_b("POST", f"{sim}/faults/stall")
        await through_b("POST", f"{sim}/pair", 409, json={"code": "ABCD-EFGH"})  # linked already
        dropped = await through_b("POST", "/v1/simulator/outage", json={"code": 428})
        assert dropped["dropped"] == 1  # A's session, dropped by A

        async with running_fake_chatwoot() as chatwoot:  # linked through B, seen by A
            desk = {"url": chatwoot.url, "account_id": CHATWOOT_ACCOUNT_ID, "token": CHATWOOT_TOKEN}
            linked = await through_b("PUT", f"{base}/chatwoot", 200, json=desk)
            assert linked["webhook_url"].startswith(b.base_url)
            await same("GET", f"{base}/chatwoot")
            await through_b("DELETE", f"{base}/chatwoot", 204)

        await through_b("PATCH", base, 200, json={"config": {"push_name": "Shop"}})
        await through_b("POST", f"{base}/stop")
        await through_b("POST", f"{base}/start")

        async def running_again() -> bool:
            await a.services.manager.lease_pass()
            await b.services.manager.lease_pass()
            return (
                a.services.manager.runtime(sid) is not None
                or b.services.manager.runtime(sid) is not None
            )

        await eventually(running_again)
        owner = a if a.services.manager.runtime(sid) is not None else b
        other_client = api_b if owner is a else api_a
        answer = await other_client.post(f"{base}/logout")  # asked of the worker without it
        assert answer.status_code == 202, answer.text
        assert owner.services.manager.runtime(sid) is None  # its owner logged it out now
        assert owner.network.phone(sid).linked is False  # and WhatsApp unlinked the device
        await through_b("DELETE", base, 204)
        assert phone["number"]

        used = {r for r in seen.called if SESSION_SCOPED.match(r[1])}
        wanted = {
            (m.upper(), p)
            for p, ops in spec["paths"].items()
            for m in ops
            if SESSION_SCOPED.match(p)
        }
        assert len(wanted) >= 40  # the session, message, chat and simulator routes
        assert wanted - used == set(), "session routes this walk did not call through B"
