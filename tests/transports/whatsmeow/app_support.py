"""A wagate server's whatsmeow sessions on fake-engine hosts: switch them on, reach them."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

from tests.support.server import RunningServer, eventually
from tests.transports.whatsmeow.support import FAKE_HOST_ARGS, HOST_ENV, event_code
from wagate.transports.whatsmeow import WhatsmeowTransport


def use_fake_engine(server: RunningServer) -> None:
    supervisor = server.services.whatsmeow
    assert supervisor is not None
    supervisor.settings = replace(supervisor.settings, host_args=FAKE_HOST_ARGS, env=HOST_ENV)


async def transport_of(server: RunningServer, session_id: str) -> WhatsmeowTransport:
    async def running() -> WhatsmeowTransport | None:
        runtime = server.services.manager.runtime(session_id)
        transport = runtime.transport if runtime else None
        if isinstance(transport, WhatsmeowTransport) and transport.host is not None:
            return transport
        return None

    result: WhatsmeowTransport = await eventually(running)
    return result


async def inject(transport: WhatsmeowTransport, event: Any) -> None:
    data = base64.b64encode(event.SerializeToString()).decode()
    await transport.test_command("event", code=event_code(event), data=data)
