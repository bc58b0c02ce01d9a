from __future__ import annotations

import httpx

from tests.engine.helpers import advance_until, assistant_session, say, sent_texts, steps
from tests.support.server import RunningServer


async def test_three_quick_messages_one_reply(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    sid = await assistant_session(server, admin)
    await say(admin, sid, "hi")
    await say(admin, sid, "are you there?")
    await say(admin, sid, "hello")

    async def replied() -> bool:
        return bool(await sent_texts(server, sid))

    await advance_until(server, replied)
    assert await sent_texts(server, sid) == ["echo: hi / are you there? / hello"]
    print(await steps(admin, sid))
