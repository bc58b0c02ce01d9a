"""Nothing the server logs holds a secret it was given, even when everything around it fails.

One server, on each database, is handed every kind of secret wagate keeps (the
admin key, a tenant key, a Cloud API token, app secret and verify token, an
Evolution key, a proxy password, a brain's API key and header, a webhook
secret) and then made to fail with each of them: a wrong signature, a proxy
and an Evolution server that do not answer, a brain that refuses, a webhook
endpoint that is down. Everything the process wrote is then searched for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.helpers import connected_session
from tests.engine.helpers import say
from tests.support.fake_graph import CLOUD_PHONE_ID, running_fake_graph
from tests.support.fake_llm import fake_openai
from tests.support.server import ADMIN_KEY, eventually, make_settings, running_server

CLOUD_TOKEN = "EAAGcloud-token-never-logged-7d1f"
APP_SECRET = "app-secret-never-logged-91c2"
VERIFY_TOKEN = "verify-token-never-logged-55ab"
EVOLUTION_KEY = "evolution-key-never-logged-0e7d"
PROXY_PASSWORD = "proxy-password-never-logged-3b9a"
BRAIN_KEY = "sk-brain-key-never-logged-c4f0"
BRAIN_HEADER = "brain-header-never-logged-8e21"


async def test_no_secret_reaches_the_log(
    db_url: str, tmp_path: Path, clock: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    secrets = [
        ADMIN_KEY,
        CLOUD_TOKEN,
        APP_SECRET,
        VERIFY_TOKEN,
        EVOLUTION_KEY,
        PROXY_PASSWORD,
        BRAIN_KEY,
        BRAIN_HEADER,
    ]
    async with running_fake_graph(token=CLOUD_TOKEN, phone_number_id=CLOUD_PHONE_ID) as graph:
        settings = make_settings(
            db_url, tmp_path / "data", cloud_graph_url=graph.url, log_level="debug"
        )
        async with (
            running_server(settings, clock) as server,
            server.client() as admin,
            fake_openai() as llm,
        ):
            tenant = await admin.post("/v1/admin/tenants", json={"name": "acme"})
            key = await admin.post(
                f"/v1/admin/tenants/{tenant.json()['id']}/keys", json={"name": "ci"}
            )
            secrets.append(key.json()["key"])
            async with server.client(key.json()["key"]) as acme:
                assert (await acme.get("/v1/sessions")).status_code == 200
            cloud = {
                "phone_number_id": CLOUD_PHONE_ID,
                "access_token": CLOUD_TOKEN,
                "app_secret": APP_SECRET,
                "verify_token": VERIFY_TOKEN,
            }
            created = await admin.post(
                "/v1/sessions",
                json={
                    "name": "cloud",
                    "transport": "cloud",
                    "config": cloud,
                    # a proxy that does not answer: the Graph API calls fail through it
                    "proxy_url": f"http://user:{PROXY_PASSWORD}@127.0.0.1:9",
                },
            )
            assert created.status_code == 201, created.text
            cloud_id = created.json()["id"]
            await admin.get(f"/v1/sessions/{cloud_id}/health")  # probes the proxy
            signed_wrong = await admin.post(
                "/v1/ingest/cloud",
                content=b'{"entry": []}',
                headers={"x-hub-signature-256": f"sha256={APP_SECRET}"},
            )
            assert signed_wrong.status_code == 401
            evolution = await admin.post(
                "/v1/sessions",
                json={
                    "name": "evo",
                    "transport": "evolution",
                    "config": {"base_url": "http://127.0.0.1:9", "api_key": EVOLUTION_KEY},
                },
            )
            assert evolution.status_code == 201, evolution.text
            hook = await admin.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/down"})
            assert hook.status_code == 201, hook.text
            secrets.append(hook.json()["secret"])
            llm.status = 401
            session = await connected_session(server, admin, "bot")
            brain = {
                "kind": "openai_compatible",
                "model": "m",
                "base_url": llm.base_url,
                "api_key": BRAIN_KEY,
                "headers": {"X-Extra": BRAIN_HEADER},
            }
            answer = await admin.put(
                f"/v1/sessions/{session['id']}/assistant", json={"enabled": True, "brain": brain}
            )
            assert answer.status_code == 200, answer.text
            await say(admin, session["id"], "hello")

            async def brain_failed() -> bool:
                await server.advance(1)
                steps = await admin.get(
                    f"/v1/sessions/{session['id']}/chats/5511977776666/timeline"
                )
                return "brain_error" in steps.text

            await eventually(brain_failed)

            async def cloud_failed() -> bool:
                body = (await admin.get(f"/v1/sessions/{cloud_id}")).json()
                return body["status"] != "starting"

            await eventually(cloud_failed)
    out, err = capfd.readouterr()
    written = out + err
    assert "brain_error" in written or "brain failed" in written  # the log was captured
    leaked = [secret for secret in secrets if secret in written]
    assert leaked == []
