"""Refuse NUL characters at the edge, before they reach the database.

PostgreSQL cannot store U+0000 in text, and no legitimate API value contains
it; without this guard such a request would fail deep inside a query. Checked
here once for every route: the path, the query string, and JSON bodies (where
it appears as an unescaped ``\\u0000`` sequence). Ingest routes are exempt:
payloads from other engines are taken as they come and cleaned when stored.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class NulGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/v1/ingest/"):
            await self.app(scope, receive, send)
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        if b"%00" in raw_path or b"\x00" in raw_path or b"%00" in query or b"\x00" in query:
            await _refuse(send)
            return
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if b"\x00" in body or _ESCAPED_NUL.search(body):
            await _refuse(send)
            return
        await self.app(
            scope,
            _replay([{"type": "http.request", "body": body, "more_body": False}], receive),
            send,
        )


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def _refuse(send: Send) -> None:
    body = json.dumps(
        {"error": {"code": "invalid_characters", "message": "the request contains a NUL character"}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
