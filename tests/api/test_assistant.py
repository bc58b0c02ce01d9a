"""``GET``/``PUT /v1/sessions/{id}/assistant``: defaults, validation, the key never shown."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from tests.api.helpers import create_session
from tests.support.server import RunningServer
from wagate.store.models_engine import Assistant


async def test_defaults_before_any_put(server: RunningServer, admin: httpx.AsyncClient) -> None:
    session = await create_session(admin, "a")
    body = (await admin.get(f"/v1/sessions/{session['id']}/assistant")).json()
    assert body["enabled"] is False
    assert body["brain"]["kind"] == "echo"
    assert body["brain"]["api_key_set"] is False
    assert body["batching"] == {
        "window_ms": 4000,
        "media_window_ms": 5000,
        "max_wait_ms": 30000,
        "max_batch": 8,
    }
    assert body["resume_after_s"] == 7200
    assert body["groups"] is False
    assert body["pacing"] is None
    assert body["history_window"] == 20
    assert body["fallback_reply"] is None
    assert body["handoff_keywords"] == ["humano", "atendente", "human"]
    assert body["reactions"]["probability"] == 0
    assert body["quote_when_batched"] is True
    assert body["allow"] == []
    assert body["ignore"] == []


async def test_put_stores_and_seals_the_key(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await create_session(admin, "a")
    url = f"/v1/sessions/{session['id']}/assistant"
    wanted = {
        "enabled": True,
        "brain": {
            "kind": "openai",
            "model": "gpt-test",
            "api_key": "sk-secret-123",
            "system_prompt": "be kind",
        },
        "batching": {"window_ms": 2000},
        "pacing": "fast",
        "resume_after_s": 60,
        "groups": True,
        "fallback_reply": "one moment please",
        "allow": ["5511977776666"],
    }
    answer = await admin.put(url, json=wanted)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "api_key" not in body["brain"]
    assert body["brain"]["api_key_set"] is True
    assert body["batching"]["window_ms"] == 2000
    assert body["batching"]["max_batch"] == 8
    assert (await admin.get(url)).json() == body
    async with server.services.db.read() as tx:
        row = (await tx.scalars(select(Assistant))).one()
    assert "sk-secret-123" not in str(row.config)  # sealed at rest

    # a PUT without the key keeps it; null removes it
    wanted["brain"] = {"kind": "openai", "model": "gpt-other"}
    assert (await admin.put(url, json=wanted)).json()["brain"]["api_key_set"] is True
    wanted["brain"] = {"kind": "openai", "model": "gpt-other", "api_key": None}
    assert (await admin.put(url, json=wanted)).json()["brain"]["api_key_set"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"brain": {"kind": "webhook"}},  # no url
        {"brain": {"kind": "openai"}},  # no model
        {"brain": {"kind": "openai_compatible", "model": "m"}},  # no base_url
        {"brain": {"kind": "telepathy"}},
        {"batching": {"window_ms": -1}},
        {"reactions": {"probability": 2}},
        {"pacing": "turbo"},
        {"unknown_field": 1},
    ],
)
async def test_bad_settings_are_422(
    server: RunningServer, admin: httpx.AsyncClient, body: dict[str, object]
) -> None:
    session = await create_session(admin, "a")
    answer = await admin.put(f"/v1/sessions/{session['id']}/assistant", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_assistant"


async def test_other_tenants_session_is_404(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await create_session(admin, "a")
    tenant = (await admin.post("/v1/admin/tenants", json={"name": "other"})).json()
    key = (await admin.post(f"/v1/admin/tenants/{tenant['id']}/keys", json={"name": "k"})).json()
    async with server.client(key["key"]) as other:
        answer = await other.get(f"/v1/sessions/{session['id']}/assistant")
        assert answer.status_code == 404
        answer = await other.post(f"/v1/sessions/{session['id']}/chats/5511977776666/pause")
        assert answer.status_code == 404


async def test_the_brain_key_stays_only_while_its_endpoint_does(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await create_session(admin, "moved")
    url = f"/v1/sessions/{session['id']}/assistant"
    brain = {"kind": "openai_compatible", "model": "m", "base_url": "https://a.example/v1"}
    first = await admin.put(url, json={"brain": {**brain, "api_key": "sk-for-a"}})
    assert first.json()["brain"]["api_key_set"] is True
    same = await admin.put(url, json={"brain": {**brain, "model": "other"}})
    assert same.json()["brain"]["api_key_set"] is True  # same endpoint: kept
    moved = await admin.put(url, json={"brain": {**brain, "base_url": "https://b.example/v1"}})
    assert moved.json()["brain"]["api_key_set"] is False  # a key for A never goes to B
    again = {**brain, "base_url": "https://b.example/v1", "api_key": "sk-for-b"}
    assert (await admin.put(url, json={"brain": again})).json()["brain"]["api_key_set"] is True
    other_kind = await admin.put(url, json={"brain": {"kind": "anthropic", "model": "c"}})
    assert other_kind.json()["brain"]["api_key_set"] is False


async def test_brain_headers_are_sealed_shown_by_name_and_follow_the_url(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    session = await create_session(admin, "hooked")
    url = f"/v1/sessions/{session['id']}/assistant"
    brain = {
        "kind": "webhook",
        "url": "https://n8n.example/webhook/a",
        "headers": {"Authorization": "Bearer n8n-secret-token"},
    }
    body = (await admin.put(url, json={"brain": brain})).json()
    assert body["brain"]["header_names"] == ["Authorization"]
    assert "n8n-secret-token" not in str(body)
    assert "n8n-secret-token" not in (await admin.get(url)).text
    async with server.services.db.read() as tx:
        row = (await tx.scalars(select(Assistant))).one()
    assert "n8n-secret-token" not in str(row.config)  # sealed at rest
    kept = await admin.put(url, json={"brain": {"kind": "webhook", "url": brain["url"]}})
    assert kept.json()["brain"]["header_names"] == ["Authorization"]
    moved = await admin.put(
        url, json={"brain": {"kind": "webhook", "url": "https://elsewhere.example/hook"}}
    )
    assert moved.json()["brain"]["header_names"] == []
