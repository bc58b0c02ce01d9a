"""A real client, written by no one here, against the Evolution surface: the published n8n
node for Evolution API (npm ``n8n-nodes-evolution-api`` 1.0.4, pinned in
``tests/clients/evolution_n8n``), its operations run as n8n runs them, against a running
wagate on each database.

The requests the node sends and wagate's answers are kept in golden files
(``tests/api/golden/n8n/``, volatile values replaced by their names): a change on either
side shows as a diff. ``WAGATE_UPDATE_GOLDEN=1`` rewrites them.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import httpx
import pytest

from tests.api.goldens import check_golden
from tests.api.helpers import wait_status
from tests.events.support import Receiver
from tests.support.evolution_node import evolution_node_available, run_evolution_node
from tests.support.server import ADMIN_KEY, RunningServer, eventually

TO = "5511988887777"
PICTURE = b"\x89PNG\r\n\x1a\n a picture from n8n"


@pytest.fixture(autouse=True)
def _node_installed() -> None:
    reason = evolution_node_available()
    if reason is None:
        return
    if os.environ.get("WAGATE_TEST_REQUIRE_NODE") == "1":
        pytest.fail(f"the n8n client is required here: {reason}")
    pytest.skip(reason)


class Node:
    """The n8n node pointed at one server, keeping what each call sent and got."""

    def __init__(self, server: RunningServer, apikey: str = ADMIN_KEY) -> None:
        self.url = f"{server.base_url}/evolution"
        self.apikey = apikey
        self.step = 0

    async def run(self, operation: str, golden: bool = True, **params: Any) -> dict[str, Any]:
        """One operation; its result (``ok``, ``result``, ``requests``, ``responses``)."""
        [result] = await run_evolution_node(
            self.url, self.apikey, [{"operation": operation, "params": params}]
        )
        if golden:
            self.step += 1
            name = f"{self.step:02d}_{operation.replace('/', '_')}"
            check_golden(
                "n8n",
                name,
                {
                    "requests": [_request(r) for r in result["requests"]],
                    "responses": result["responses"],
                },
            )
        return dict(result)


def _request(recorded: dict[str, Any]) -> dict[str, Any]:
    """What the node sent, without the server's port or the key."""
    headers = {k: v for k, v in (recorded.get("headers") or {}).items() if k != "apikey"}
    return {
        "method": recorded["method"],
        "path": recorded["path"],
        "headers": headers,
        "body": recorded.get("body"),
    }


def _data(result: dict[str, Any]) -> Any:
    assert result["ok"], result
    body = result["result"]
    return body.get("data", body) if isinstance(body, dict) else body


async def test_the_published_n8n_node_runs_an_instance_end_to_end(
    server: RunningServer, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    node = Node(server)
    webhook = {
        "webhookUrl": receiver.url,
        "webhookByEvents": False,
        "webhookBase64": True,
        "webhookEvents": ["QRCODE_UPDATED", "CONNECTION_UPDATE", "MESSAGES_UPSERT", "SEND_MESSAGE"],
    }
    created = _data(
        await node.run(
            "instance/createInstanceBasic",
            instanceName="n8n",
            token="n8n-instance-token",
            options_Create_instance={"webhook": {"webhookSettings": webhook}},
        )
    )
    assert created["instance"]["instanceName"] == "n8n"
    assert created["hash"] == "n8n-instance-token"
    sid = created["instance"]["instanceId"]
    await wait_status(admin, sid, "qr")

    async def qr_code() -> dict[str, Any]:
        answer = _data(await node.run("instance/instanceConnect", golden=False, instanceName="n8n"))
        assert str(answer.get("base64", "")).startswith("data:image/png;base64,"), answer
        return dict(answer)

    await eventually(qr_code)
    await node.run("instance/instanceConnect", instanceName="n8n")  # the golden one
    qr_posted = [b for b in receiver.bodies() if b["event"] == "qrcode.updated"]
    assert qr_posted
    assert qr_posted[0]["apikey"] == "n8n-instance-token"
    await admin.post(f"/v1/simulator/{sid}/scan")
    await wait_status(admin, sid, "connected")

    listed = _data(await node.run("instance/fetchInstances", instanceName="n8n"))
    assert [(i["name"], i["connectionStatus"]) for i in listed] == [("n8n", "open")]

    numbers = _data(await node.run("chat/checkNumber", instanceName="n8n", numbers=f"{TO},0999"))
    assert [(n["number"], n["exists"]) for n in numbers] == [(TO, True), ("0999", False)]

    # from here on the instance's own token, as a workflow that read it from a webhook would
    node = Node(server, apikey="n8n-instance-token")
    node.step = 10
    text = _data(
        await node.run("messages/sendText", instanceName="n8n", remoteJid=TO, messageText="oi")
    )
    assert text["key"]["fromMe"] is True
    image = await node.run(
        "messages/sendImage",
        instanceName="n8n",
        remoteJid=TO,
        media=base64.b64encode(PICTURE).decode(),
        caption="from n8n",
    )
    assert _data(image)["messageType"] == "imageMessage"
    poll = await node.run(
        "messages/sendPoll",
        instanceName="n8n",
        remoteJid=TO,
        caption="Lunch?",
        options_display={"metadataValues": [{"optionValue": "yes"}, {"optionValue": "no"}]},
    )
    assert _data(poll)["messageType"] == "pollCreationMessageV3"

    async def sent() -> list[str]:
        kinds = [r.type for r in server.network.sent(sid)]
        assert len(kinds) == 3, kinds
        return kinds

    assert await eventually(sent) == ["text", "image", "poll"]
    assert [r.text for r in server.network.sent(sid)][:2] == ["oi", "from n8n"]

    # a contact writes; the workflow's webhook gets it in Evolution's shape
    await admin.post(f"/v1/simulator/{sid}/inbound", json={"from": TO, "text": "hello n8n"})

    async def upserted() -> dict[str, Any]:
        found = [
            b
            for b in receiver.bodies()
            if b["event"] == "messages.upsert"
            and b["data"]["message"].get("conversation") == "hello n8n"
        ]
        assert found, receiver.bodies()
        return found[0]

    upsert = await eventually(upserted)
    assert upsert["instance"] == "n8n"
    assert upsert["apikey"] == "n8n-instance-token"
    wa_id = upsert["data"]["key"]["id"]
    sends = [b for b in receiver.bodies() if b["event"] == "send.message"]
    assert {b["data"]["messageType"] for b in sends} >= {"conversation", "imageMessage"}

    read = await node.run(
        "chat/readMessages", instanceName="n8n", remoteJid=TO, fromMe=False, messageId=wa_id
    )
    assert _data(read) == {"message": "Read messages", "read": "success"}
    assert server.network.read_log(sid)[-1].wa_message_ids == (wa_id,)
    found = _data(await node.run("chat/findMessages", instanceName="n8n", remoteJid=TO))
    assert found["messages"]["total"] == 4

    hook = await node.run(
        "events/setWebhook",
        instanceName="n8n",
        resourceForWebhook="setWebhook",
        enabled=True,
        webhookUrl=receiver.url,
        webhookByEvents=True,
        webhookBase64=False,
        webhookEvents=["MESSAGES_UPSERT"],
    )
    assert _data(hook)["webhookByEvents"] is True
    found_hook = await node.run(
        "events/setWebhook", instanceName="n8n", resourceForWebhook="findWebhook"
    )
    assert _data(found_hook)["events"] == ["MESSAGES_UPSERT"]

    # the global key again, as the workflow's operator
    node = Node(server)
    node.step = 30
    assert (await node.run("instance/logoutInstance", instanceName="n8n"))["ok"]
    assert (await node.run("instance/deleteInstance", instanceName="n8n"))["ok"]
    missing = await node.run("instance/fetchInstances", golden=False, instanceName="n8n")
    assert _data(missing) == []
