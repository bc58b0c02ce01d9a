"""The README walk-through through a client generated from /openapi.json (openapi-python-client).

If a route's answer were untyped or documented wrongly, the generated client
would hand back raw data or fail to parse it: this drives the walk-through with
the client's own typed models, on both databases.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from tests.support.server import ADMIN_KEY, RunningServer, eventually

GENERATOR = Path(sys.executable).with_name("openapi-python-client")


async def _generate(server: RunningServer, where: Path) -> Any:
    import httpx

    async with httpx.AsyncClient(base_url=server.base_url) as http:
        document = (await http.get("/openapi.json")).json()
    path = where / "openapi.json"
    path.write_text(json.dumps(document))
    process = await asyncio.create_subprocess_exec(
        str(GENERATOR),
        "generate",
        "--path",
        str(path),
        "--meta",
        "none",
        "--output-path",
        str(where / "wagate_client"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=where,
    )
    output, _ = await process.communicate()
    assert (where / "wagate_client" / "client.py").is_file(), output.decode()[-3000:]
    sys.path.insert(0, str(where))
    for name in [m for m in sys.modules if m == "wagate_client" or m.startswith("wagate_client.")]:
        del sys.modules[name]
    return importlib.import_module("wagate_client")


def _api(tag: str, operation: str) -> Any:
    return importlib.import_module(f"wagate_client.api.{tag}.{operation}")


async def test_the_readme_walk_through_with_a_generated_client(
    server: RunningServer, tmp_path: Path
) -> None:
    package = await _generate(server, tmp_path)
    client_module = importlib.import_module("wagate_client.client")
    models = importlib.import_module("wagate_client.models")
    create = _api("sessions", "create_session_v1_sessions_post")
    get = _api("sessions", "get_session_v1_sessions_session_id_get")
    qr = _api("sessions", "get_qr_v1_sessions_session_id_qr_get")
    scan = _api("simulator", "scan_v1_simulator_session_id_scan_post")
    send = _api("messages", "send_message_v1_sessions_session_id_messages_post")
    inbound = _api("simulator", "inbound_v1_simulator_session_id_inbound_post")
    listing = _api("messages", "list_messages_v1_sessions_session_id_messages_get")
    sent = _api("simulator", "sent_v1_simulator_session_id_sent_get")
    try:
        client = client_module.AuthenticatedClient(base_url=server.base_url, token=ADMIN_KEY)
        async with client:
            # 1. create a session: it starts and shows a QR code
            session = await create.asyncio(
                client=client, body=models.SessionCreate.from_dict({"name": "demo"})
            )
            assert isinstance(session, models.SessionOut), session

            async def waiting_for_scan() -> bool:
                shown = await get.asyncio("demo", client=client)
                return isinstance(shown, models.SessionOut) and shown.status == "qr"

            await eventually(waiting_for_scan)
            # 2. the QR code
            code = await qr.asyncio("demo", client=client)
            assert isinstance(code, models.QrOut)
            assert code.image.startswith("data:image/png;base64,")
            # 3. the simulated phone scans it
            scanned = await scan.asyncio("demo", client=client)
            assert isinstance(scanned, models.SimulatorAck)
            assert scanned.scanned is True

            async def connected() -> bool:
                shown = await get.asyncio("demo", client=client)
                return isinstance(shown, models.SessionOut) and shown.status == "connected"

            await eventually(connected)
            # 4. send a message
            message = await send.asyncio(
                "demo",
                client=client,
                body=models.OutboundMessageRequest.from_dict(
                    {"to": "+55 11 98888-7777", "text": "Hello from wagate"}
                ),
            )
            assert isinstance(message, models.MessageOut), message
            assert message.status == "queued"

            async def reached_the_network() -> bool:
                seen = await sent.asyncio("demo", client=client)
                return isinstance(seen, models.SentList) and len(seen.items) == 1

            await eventually(reached_the_network)
            # 5. a contact writes back
            answer = await inbound.asyncio(
                "demo",
                client=client,
                body=models.SimulatorInbound.from_dict({"from": "5511988887777", "text": "Hi!"}),
            )
            assert isinstance(answer, models.SimulatorAck)
            assert answer.wa_message_id
            # 6. both messages, newest first
            page = await listing.asyncio("demo", client=client)
            assert isinstance(page, models.MessagePage), page
            assert [m.text for m in page.items] == ["Hi!", "Hello from wagate"]
            assert [m.direction for m in page.items] == ["in", "out"]
    finally:
        sys.path.remove(str(tmp_path))
        assert package is not None
