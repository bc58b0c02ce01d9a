"""Fake LLM servers on loopback: OpenAI's Chat Completions (and its audio transcriptions)
and Anthropic's Messages API.

Real HTTP servers (aiohttp), so the official SDKs run unmodified against
them. Each records the requests (body and headers) and answers with the
text it is told, or with an HTTP error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeLLM:
    base_url: str = ""
    reply: str = "hello from the model"
    status: int = 200
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    transcript: str = "I would like two pairs in size 40"
    transcriptions: list[dict[str, Any]] = field(default_factory=list)  # model, language, file
    transcription_status: int = 200

    async def _record(self, request: web.Request) -> web.Response | None:
        self.requests.append(await request.json())
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.status != 200:
            body = {"error": {"type": "server_error", "message": "the fake model failed"}}
            return web.json_response(body, status=self.status)
        return None


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp internals
    return runner, int(port)


@asynccontextmanager
async def fake_openai() -> AsyncIterator[FakeLLM]:
    """``POST /v1/chat/completions``; ``base_url`` ends in ``/v1`` as the SDK expects."""
    state = FakeLLM()

    async def completions(request: web.Request) -> web.Response:
        error = await state._record(request)
        if error is not None:
            return error
        body = state.requests[-1]
        return web.json_response(
            {
                "id": f"chatcmpl-{len(state.requests)}",
                "object": "chat.completion",
                "created": 1767614400,
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": state.reply},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        )

    async def transcriptions(request: web.Request) -> web.Response:
        """``POST /v1/audio/transcriptions`` (multipart: ``file``, ``model``, ``language``)."""
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, web.FileField)
        state.transcriptions.append(
            {
                "model": form.get("model"),
                "language": form.get("language"),
                "file_name": upload.filename,
                "content_type": upload.content_type,
                "data": upload.file.read(),
                "authorization": request.headers.get("authorization"),
            }
        )
        if state.transcription_status != 200:
            body = {"error": {"type": "server_error", "message": "the fake model failed"}}
            return web.json_response(body, status=state.transcription_status)
        return web.json_response({"text": f" {state.transcript} "})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    runner, port = await _serve(app)
    state.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield state
    finally:
        await runner.cleanup()


@asynccontextmanager
async def fake_anthropic() -> AsyncIterator[FakeLLM]:
    """``POST /v1/messages``; ``base_url`` is the server root, as the SDK expects."""
    state = FakeLLM()

    async def messages(request: web.Request) -> web.Response:
        error = await state._record(request)
        if error is not None:
            return error
        body = state.requests[-1]
        return web.json_response(
            {
                "id": f"msg_{len(state.requests)}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "fake"),
                "content": [{"type": "text", "text": state.reply}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 5},
            }
        )

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    runner, port = await _serve(app)
    state.base_url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()
