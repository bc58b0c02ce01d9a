"""One driver per transport: how a contract test plays "the engine" for that transport.

A driver starts what the transport talks to (nothing for the simulator, a
fake Graph API for ``cloud``, a fake Evolution server for ``evolution``),
connects a session through the public API, and lets the test make the engine
deliver an inbound text or a receipt, in the engine's own wire format.

``whatsmeow`` has no driver: its engine is WhatsApp's servers, which tests
cannot reach; its behaviour is covered by tests/transports/whatsmeow/ at the
level of neonize's events and protobufs.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.api.helpers import create_session, wait_status
from tests.support.fake_graph import (
    CLOUD_PHONE_ID,
    CLOUD_TOKEN,
    FakeGraph,
    cloud_config,
    running_fake_graph,
    sign,
)
from tests.support.server import RunningServer, eventually, make_settings, running_server
from tests.transports.evolution.fake import API_KEY, FakeEvolution, running_fake
from wagate.domain import FakeClock

CONTACT = "5511988887777"

Change = tuple[str, str, str | None]


class Driver(ABC):
    transport: str

    @asynccontextmanager
    async def running(
        self, db_url: str, data_dir: Path, clock: FakeClock
    ) -> AsyncIterator[RunningServer]:
        async with AsyncExitStack() as stack:
            overrides = await self.start_engine(stack)
            settings = make_settings(db_url, data_dir, **overrides)
            yield await stack.enter_async_context(running_server(settings, clock))

    async def start_engine(self, stack: AsyncExitStack) -> dict[str, Any]:
        """Start the engine's fake; returns settings the server needs to reach it."""
        return {}

    @abstractmethod
    async def connect(self, server: RunningServer, client: httpx.AsyncClient) -> dict[str, Any]:
        """A connected session of this transport, as the API shows it."""

    @abstractmethod
    async def inbound_text(
        self, server: RunningServer, session: dict[str, Any], wa_id: str, text: str
    ) -> None:
        """``CONTACT`` writes ``text``; the engine reports it with id ``wa_id``."""

    @abstractmethod
    async def receipt(
        self, server: RunningServer, session: dict[str, Any], wa_id: str, status: str
    ) -> None:
        """The engine reports that our message ``wa_id`` is ``delivered`` or ``read``."""

    @abstractmethod
    def transmitted_texts(self, server: RunningServer, session: dict[str, Any]) -> list[str]:
        """The texts that reached the engine, once per transmission."""

    async def transmitted_changes(
        self, server: RunningServer, session: dict[str, Any]
    ) -> list[Change]:
        """The edits and revokes that reached the engine: (kind, target's WhatsApp id, text)."""
        return []

    async def someone_joins(
        self, server: RunningServer, session: dict[str, Any], group: str
    ) -> None:
        """WhatsApp tells the session that ``CONTACT`` joined ``group`` (a group it made)."""
        raise NotImplementedError(f"{self.transport} has no group notices")

    async def vote(
        self, server: RunningServer, session: dict[str, Any], poll_wa_id: str, options: list[str]
    ) -> bool:
        """``CONTACT`` votes ``options`` in our poll, as the engine reports it; False where
        the engine reports no votes."""
        return False


# --------------------------------------------------------------------------- simulator


class SimulatorDriver(Driver):
    transport = "simulator"

    async def connect(self, server: RunningServer, client: httpx.AsyncClient) -> dict[str, Any]:
        # Receipts only when the test asks for them (see receipt()).
        session = await create_session(
            client, "contract", config={"delivery_delay_ms": 3_600_000, "auto_read": False}
        )
        await wait_status(client, session["id"], "qr")
        await client.post(f"/v1/simulator/{session['id']}/scan")
        await wait_status(client, session["id"], "connected")
        return dict((await client.get(f"/v1/sessions/{session['id']}")).json())

    async def inbound_text(
        self, server: RunningServer, session: dict[str, Any], wa_id: str, text: str
    ) -> None:
        async with server.client() as client:
            answer = await client.post(
                f"/v1/simulator/{session['id']}/inbound",
                json={"from": CONTACT, "text": text, "id": wa_id},
            )
            assert answer.status_code == 202, answer.text

    async def receipt(
        self, server: RunningServer, session: dict[str, Any], wa_id: str, status: str
    ) -> None:
        async with server.client() as client:
            answer = await client.post(
                f"/v1/simulator/{session['id']}/receipt",
                json={"wa_message_id": wa_id, "status": status},
            )
            assert answer.status_code == 202, answer.text

    def transmitted_texts(self, server: RunningServer, session: dict[str, Any]) -> list[str]:
        return [
            record.text or ""
            for record in server.network.sent(session["id"])
            for _ in range(record.transmissions)
        ]

    async def vote(
        self, server: RunningServer, session: dict[str, Any], poll_wa_id: str, options: list[str]
    ) -> bool:
        async with server.client() as client:
            body = {"type": "poll_vote", "from": CONTACT, "message_id": poll_wa_id}
            answer = await client.post(
                f"/v1/simulator/{session['id']}/inbound", json={**body, "options": options}
            )
            assert answer.status_code == 202, answer.text
        return True

    async def someone_joins(
        self, server: RunningServer, session: dict[str, Any], group: str
    ) -> None:
        async with server.client() as client:
            answer = await client.post(
                f"/v1/simulator/{session['id']}/group-event",
                json={"group": group, "change": "joined", "participants": [CONTACT]},
            )
            assert answer.status_code == 202, answer.text

    async def transmitted_changes(
        self, server: RunningServer, session: dict[str, Any]
    ) -> list[Change]:
        return [
            (r.type, r.target or "", r.text if r.type == "edit" else None)
            for r in server.network.sent(session["id"])
            if r.type in ("edit", "revoke")
        ]


# --------------------------------------------------------------------------- cloud


class CloudDriver(Driver):
    transport = "cloud"

    def __init__(self) -> None:
        self.graph: FakeGraph | None = None

    async def start_engine(self, stack: AsyncExitStack) -> dict[str, Any]:
        self.graph = await stack.enter_async_context(
            running_fake_graph(token=CLOUD_TOKEN, phone_number_id=CLOUD_PHONE_ID)
        )
        return {"cloud_graph_url": self.graph.url}

    async def connect(self, server: RunningServer, client: httpx.AsyncClient) -> dict[str, Any]:
        session = await create_session(client, "contract", transport="cloud", config=cloud_config())
        await wait_status(client, session["id"], "connected")
        return dict((await client.get(f"/v1/sessions/{session['id']}")).json())

    async def _notify(self, server: RunningServer, value: dict[str, Any]) -> None:
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100123", "phone_number_id": CLOUD_PHONE_ID},
            **value,
        }
        body = json.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
            }
        ).encode()
        async with server.client(key=None) as anonymous:
            answer = await anonymous.post(
                "/v1/ingest/cloud",
                content=body,
                headers={"content-type": "application/json", "x-hub-signature-256": sign(body)},
            )
            assert answer.status_code == 200, answer.text

    async def inbound_text(
        self, server: RunningServer, session: dict[str, Any], wa_id: str, text: str
    ) -> None:
        await self._notify(
            server,
            {
                "contacts": [{"profile": {"name": "Ana"}, "wa_id": CONTACT}],
                "messages": [
                    {
                        "from": CONTACT,
                        "id": wa_id,
                        "timestamp": str(int(_now(server).timestamp())),
                        "type": "text",
                        "text": {"body": text},
                    }
                ],
            },
        )

    async def receipt(
        self, server: RunningServer, session: dict[str, Any], wa_id: str, status: str
    ) -> None:
        await self._notify(
            server,
            {
                "statuses": [
                    {
                        "id": wa_id,
                        "status": status,
                        "timestamp": str(int(_now(server).timestamp())),
                        "recipient_id": CONTACT,
                    }
                ]
            },
        )

    def transmitted_texts(self, server: RunningServer, session: dict[str, Any]) -> list[str]:
        assert self.graph is not None
        return [body["text"]["body"] for body in self.graph.sent() if body.get("type") == "text"]


# --------------------------------------------------------------------------- evolution


class EvolutionDriver(Driver):
    transport = "evolution"

    def __init__(self) -> None:
        self.fake: FakeEvolution | None = None

    async def start_engine(self, stack: AsyncExitStack) -> dict[str, Any]:
        fake = FakeEvolution(instance="contract")
        self.fake = await stack.enter_async_context(running_fake(fake))
        return {}

    async def connect(self, server: RunningServer, client: httpx.AsyncClient) -> dict[str, Any]:
        assert self.fake is not None
        session = await create_session(
            client,
            "contract",
            transport="evolution",
            config={"base_url": self.fake.base_url, "api_key": API_KEY},
        )
        await wait_status(client, session["id"], "qr")
        self.fake.scan()

        async def connected() -> dict[str, Any]:
            await server.advance(5)
            body = dict((await client.get(f"/v1/sessions/{session['id']}")).json())
            assert body["status"] == "connected", body["status"]
            return body

        result: dict[str, Any] = await eventually(connected)
        return result

    async def _post(self, server: RunningServer, session: dict[str, Any], payload: Any) -> None:
        async with server.client(key=None) as anonymous:
            answer = await anonymous.post(session["ingest_url"], json=payload)
            assert answer.status_code == 200, answer.text

    async def inbound_text(
        self, server: RunningServer, session: dict[str, Any], wa_id: str, text: str
    ) -> None:
        await self._post(
            server,
            session,
            {
                "event": "messages.upsert",
                "instance": "contract",
                "data": {
                    "key": {"remoteJid": f"{CONTACT}@s.whatsapp.net", "fromMe": False, "id": wa_id},
                    "pushName": "Ana",
                    "message": {"conversation": text},
                    "messageType": "conversation",
                    "messageTimestamp": int(_now(server).timestamp()),
                },
                "date_time": _now(server).isoformat(),
            },
        )

    async def receipt(
        self, server: RunningServer, session: dict[str, Any], wa_id: str, status: str
    ) -> None:
        wire = {"delivered": "DELIVERY_ACK", "read": "READ"}[status]
        await self._post(
            server,
            session,
            {
                "event": "messages.update",
                "instance": "contract",
                "data": {
                    "keyId": wa_id,
                    "remoteJid": f"{CONTACT}@s.whatsapp.net",
                    "fromMe": True,
                    "status": wire,
                },
            },
        )

    def transmitted_texts(self, server: RunningServer, session: dict[str, Any]) -> list[str]:
        assert self.fake is not None
        return [str(r.body.get("text")) for r in self.fake.calls("message", "sendText")]

    async def someone_joins(
        self, server: RunningServer, session: dict[str, Any], group: str
    ) -> None:
        await self._post(
            server,
            session,
            {
                "event": "group-participants.update",
                "instance": "contract",
                "data": {
                    "id": group,
                    "participants": [f"{CONTACT}@s.whatsapp.net"],
                    "action": "add",
                },
            },
        )

    async def transmitted_changes(
        self, server: RunningServer, session: dict[str, Any]
    ) -> list[Change]:
        assert self.fake is not None
        changes: list[Change] = []
        for r in self.fake.requests:
            if r.path.startswith("/chat/updateMessage/"):
                assert r.body["key"]["fromMe"] is True
                changes.append(("edit", r.body["key"]["id"], r.body["text"]))
            elif r.path.startswith("/chat/deleteMessageForEveryone/"):
                assert r.method == "DELETE"
                assert r.body["fromMe"] is True
                changes.append(("revoke", r.body["id"], None))
        return changes


def _now(server: RunningServer) -> datetime:
    return server.clock.now().astimezone(UTC)


DRIVERS: dict[str, type[Driver]] = {
    "simulator": SimulatorDriver,
    "cloud": CloudDriver,
    "evolution": EvolutionDriver,
}


def _register_whatsmeow() -> None:
    """whatsmeow's driver (fake-engine hosts) lives with its tests; it imports this module."""
    from tests.transports.whatsmeow.contract_driver import WhatsmeowDriver

    DRIVERS["whatsmeow"] = WhatsmeowDriver


_register_whatsmeow()
