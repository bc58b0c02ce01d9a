"""The edge of the API: bounded request bodies, and no NUL characters.

Every request passes here before routing and authentication, so what is
checked here costs an attacker without a key nothing but costs us little:

- **Size.** Each route has a body limit (:class:`BodyLimits`): the send and
  simulator routes may carry media in base64 (about 4/3 of
  ``WAGATE_MEDIA_MAX_BYTES``), bulk sends a bounded batch, ingest routes a few
  MB, every other route ``WAGATE_MAX_BODY_BYTES``. A ``Content-Length`` over
  the limit is answered 413 ``payload_too_large`` before a byte of the body is
  read; a body sent without one (chunked) is counted as it arrives and
  refused once it passes the limit (what follows is read and dropped, up to
  1 MiB, so that a client that stops there gets the answer). At most the
  limit is ever held in memory for one request. A ``multipart/form-data``
  send (a file upload) is not held at all: it streams on to the form parser,
  which spools the file to disk, and is counted as it goes (a body that
  passes the limit fails there with the same 413).
- **NUL.** PostgreSQL cannot store U+0000 in text, and no legitimate API value
  contains it; without this check such a request would fail deep inside a
  query. The path, the query string and bodies are checked (a raw NUL as each
  chunk arrives, JSON's escaped ``\\u0000`` once the body is complete), 400
  ``invalid_characters``. Ingest routes are exempt: payloads from other
  engines are taken as they come and cleaned when stored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wagate.domain import PayloadTooLarge

_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_SEND = re.compile(r"^/v1/sessions/[^/]+/messages/?$")
_BULK = re.compile(r"^/v1/sessions/[^/]+/messages/bulk/?$")
_SIMULATED_INBOUND = re.compile(r"^/v1/simulator/[^/]+/inbound/?$")
_INGEST = "/v1/ingest/"
_EVOLUTION_INGEST = "/v1/ingest/evolution/"


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The largest body each kind of route takes, in bytes."""

    default: int  # WAGATE_MAX_BODY_BYTES: settings, webhooks, sessions...
    media: int  # a message with media in base64
    bulk: int  # a bulk send
    ingest: int  # Cloud API notifications (media is fetched, never inline)
    upload: int = 0  # a multipart send: the file, plus its form fields

    @classmethod
    def for_media(
        cls, *, media_max_bytes: int, max_body_bytes: int, ingest_max_bytes: int
    ) -> BodyLimits:
        media = media_max_bytes * 4 // 3 + 64 * 1024  # base64, plus the JSON around it
        return cls(
            default=max_body_bytes,
            media=media,
            bulk=media + 8 * 1024 * 1024,  # one media item plus a thousand texts
            ingest=ingest_max_bytes,
            upload=media_max_bytes + 64 * 1024,
        )

    def for_request(self, method: str, path: str) -> int:
        if path.startswith(_INGEST):
            # Evolution inlines media in base64 when its webhook_base64 option is on
            return (
                max(self.ingest, self.media) if path.startswith(_EVOLUTION_INGEST) else self.ingest
            )
        if method == "POST":
            if _SEND.match(path) or _SIMULATED_INBOUND.match(path):
                return self.media
            if _BULK.match(path):
                return self.bulk
        return self.default


class BodyGuard:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        check_nul = not path.startswith(_INGEST)
        raw_path: bytes = scope.get("raw_path") or path.encode()
        query: bytes = scope.get("query_string", b"")
        if check_nul and any(b"%00" in part or b"\x00" in part for part in (raw_path, query)):
            await _refuse_nul(send)
            return
        declared = _content_length(scope)
        if scope["method"] == "POST" and _SEND.match(path) and _multipart(scope):
            # a file holds NULs; the form's text fields are checked when they are parsed
            limit = self.limits.upload or self.limits.media
            if declared is not None and declared > limit:
                # a client uploading a file writes all of it before it reads an answer
                await _drain(receive, declared - limit <= DRAIN_MAX)
                await _refuse_too_large(send, limit)
                return
            await self.app(scope, _counted(receive, limit), send)
            return
        limit = self.limits.for_request(scope["method"], path)
        if declared is not None and declared > limit:
            await _refuse_too_large(send, limit)
            return
        if declared == 0 or (declared is None and not _chunked(scope)):
            await self.app(scope, receive, send)  # no body
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)  # the client went away
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _drain(receive, message.get("more_body", False))
                await _refuse_too_large(send, limit)
                return
            if check_nul and b"\x00" in chunk:
                await _refuse_nul(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if check_nul and _ESCAPED_NUL.search(body):
            await _refuse_nul(send)
            return
        await self.app(
            scope,
            _replay([{"type": "http.request", "body": body, "more_body": False}], receive),
            send,
        )


DRAIN_MAX = 1024 * 1024


async def _drain(receive: Receive, more: bool) -> None:
    """Read and drop up to :data:`DRAIN_MAX` more bytes of a body that is over its limit.

    Once the answer is sent the server closes the connection; data the client
    sent that nobody read makes the kernel reset it, and a client still
    sending would then lose the 413. A body that ends soon after its limit is
    read to its end (discarded), so its client gets the answer; an endless one
    is cut off."""
    drained = 0
    while more and drained < DRAIN_MAX:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        more = message.get("more_body", False)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)  # the server has checked it is digits
            except ValueError:
                return None
    return None


def _chunked(scope: Scope) -> bool:
    return any(
        name == b"transfer-encoding" and b"chunked" in value.lower()
        for name, value in scope.get("headers", [])
    )


def _multipart(scope: Scope) -> bool:
    return any(
        name == b"content-type" and value.lower().startswith(b"multipart/form-data")
        for name, value in scope.get("headers", [])
    )


def _counted(receive: Receive, limit: int) -> Receive:
    """``receive`` that fails with 413 once the body passes ``limit``."""
    size = 0

    async def counting() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise PayloadTooLarge(
                    f"the request body is larger than this route's limit of {limit} bytes"
                )
        return message

    return counting


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def _refuse_nul(send: Send) -> None:
    await _answer(send, 400, "invalid_characters", "the request contains a NUL character")


async def _refuse_too_large(send: Send, limit: int) -> None:
    message = f"the request body is larger than this route's limit of {limit} bytes"
    await _answer(send, 413, "payload_too_large", message, close=True)


async def _answer(send: Send, status: int, code: str, message: str, *, close: bool = False) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:  # the unread rest of the body is not waited for
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
