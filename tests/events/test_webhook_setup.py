"""A webhook's extra headers and changes through the API, and the webhook that
``WAGATE_WEBHOOK_URL`` keeps in step with the environment at each start."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.events.support import (
    Receiver,
    create_webhook,
    emit,
    event_settings,
    settle,
    verify,
)
from tests.support.server import RunningServer, running_server
from wagate.domain import FakeClock
from wagate.store.models import Webhook


def _received(receiver: Receiver, count: int):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return len(receiver.received) >= count

    return check


async def test_extra_headers_go_with_every_delivery_and_are_never_shown(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await create_webhook(
        admin, receiver.url, headers={"X-Api-Key": "n8n-secret", "X-Tenant": "acme"}
    )
    assert hook["header_names"] == ["X-Api-Key", "X-Tenant"]
    assert "n8n-secret" not in (await admin.get(f"/v1/webhooks/{hook['id']}")).text
    async with server.services.db.read() as tx:
        stored = await tx.scalar(select(Webhook.headers).where(Webhook.id == hook["id"]))
    assert stored is not None
    assert "n8n-secret" not in stored  # sealed at rest

    await emit(server, 1)
    await settle(_received(receiver, 1))
    got = receiver.received[0]
    assert (got.headers["X-Api-Key"], got.headers["X-Tenant"]) == ("n8n-secret", "acme")
    verify(hook["secret"], got)  # the signature still holds

    changed = await admin.patch(f"/v1/webhooks/{hook['id']}", json={"headers": {"X-New": "1"}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["header_names"] == ["X-New"]
    await emit(server, 1)
    await settle(_received(receiver, 2))
    latest = receiver.received[1]
    assert latest.headers["X-New"] == "1"
    assert "X-Api-Key" not in latest.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"webhook-signature": "v1,forged"},
        {"Content-Type": "text/plain"},
        {"Bad Name": "x"},
        {"X-Line": "a\r\nInjected: yes"},
    ],
)
async def test_headers_that_would_forge_or_break_a_request_are_refused(
    admin: httpx.AsyncClient, receiver: Receiver, headers: dict[str, str]
) -> None:
    response = await admin.post("/v1/webhooks", json={"url": receiver.url, "headers": headers})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


async def test_a_patch_moves_the_endpoint_without_losing_or_repeating_events(
    server: RunningServer,
    admin: httpx.AsyncClient,
    receiver: Receiver,
    other_receiver: Receiver,
) -> None:
    hook = await create_webhook(admin, receiver.url, events=["message.received"])
    first = await emit(server, 2)
    await settle(_received(receiver, 2))
    moved = await admin.patch(
        f"/v1/webhooks/{hook['id']}", json={"url": other_receiver.url, "events": ["*"]}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["url"], moved.json()["events"]) == (other_receiver.url, ["*"])
    later = await emit(server, 2, type="alert")
    await settle(_received(other_receiver, 2))
    assert [r.id for r in receiver.received] == first
    assert [r.id for r in other_receiver.received] == later
    bad = await admin.patch(f"/v1/webhooks/{hook['id']}", json={"events": ["nope"]})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "unknown_event_type"


def _secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def _env_hooks(server: RunningServer) -> list[Webhook]:
    async with server.services.db.read() as tx:
        return list(await tx.scalars(select(Webhook).where(Webhook.managed_by == "env")))


async def test_the_environment_webhook_is_created_updated_in_place_and_removed(
    db_url: str, tmp_path: Path, clock: FakeClock, receiver: Receiver, other_receiver: Receiver
) -> None:
    secret = _secret()
    first = event_settings(
        db_url,
        tmp_path / "data",
        allow_private_urls=False,  # the operator's own webhook may still be private (loopback)
        webhook_url=receiver.url,
        webhook_events="message.received,alert",
        webhook_secret=secret,
        webhook_headers={"X-Api-Key": "k1"},
    )
    async with running_server(first, clock) as server, server.client() as admin:
        [hook] = await _env_hooks(server)
        assert (hook.id, hook.url, hook.events) == (
            "whk_env",
            receiver.url,
            ["message.received", "alert"],
        )
        await emit(server, 1, type="alert")
        await emit(server, 1, type="session.status")  # not subscribed
        await settle(_received(receiver, 1))
        got = receiver.received[0]
        verify(secret, got)
        assert got.headers["X-Api-Key"] == "k1"
        listed = (await admin.get("/v1/webhooks")).json()["items"]
        assert [(h["id"], h["managed_by"]) for h in listed] == [("whk_env", "env")]
        # a tenant cannot point an API webhook at the same private address
        refused = await admin.post("/v1/webhooks", json={"url": receiver.url})
        assert refused.status_code == 422

    second = event_settings(
        db_url,
        tmp_path / "data",
        allow_private_urls=False,
        webhook_url=other_receiver.url,
        webhook_events='["*"]',
        webhook_secret=secret,
        webhook_headers={"X-Api-Key": "k2"},
    )
    async with running_server(second, clock) as server:
        [hook] = await _env_hooks(server)  # the same row, changed in place
        assert (hook.id, hook.url, hook.events) == ("whk_env", other_receiver.url, ["*"])
        await emit(server, 1, type="session.status")
        await settle(_received(other_receiver, 1))
        assert other_receiver.received[0].headers["X-Api-Key"] == "k2"
        assert len(receiver.received) == 1  # nothing delivered twice, nothing to the old URL

    async with running_server(event_settings(db_url, tmp_path / "data"), clock) as server:
        assert await _env_hooks(server) == []  # gone from the environment: deleted


async def test_without_a_secret_one_is_generated_once_and_shown_once(
    db_url: str, tmp_path: Path, clock: FakeClock, receiver: Receiver
) -> None:
    from wagate.app import build_services

    settings = event_settings(db_url, tmp_path / "data", webhook_url=receiver.url)
    shown: list[str] = []
    async with build_services(settings, clock=clock, announce=shown.append):
        pass
    [line] = [text for text in shown if "WAGATE_WEBHOOK_URL" in text]
    secret = line.rsplit(" ", 1)[1]
    assert secret.startswith("whsec_")
    again: list[str] = []
    async with build_services(settings, clock=clock, announce=again.append) as services:
        async with services.db.read() as tx:
            hook = await tx.get(Webhook, "whk_env")
        assert hook is not None
        assert services.secret_box.open(hook.secret, hook.id) == secret  # kept
    assert not [text for text in again if "WAGATE_WEBHOOK_URL" in text]
