"""The OpenAI, OpenAI-compatible and Anthropic brains, through the official SDKs, against
fake servers on loopback: the request they make (model, system prompt, history, key), the
reply sent, and errors falling back."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.engine.helpers import advance_until, assistant_session, hold_still, say, sent_texts
from tests.support.fake_llm import FakeLLM, fake_anthropic, fake_openai
from tests.support.server import RunningServer
from wagate.engine.brains import Brains


@pytest.fixture
async def openai_server() -> AsyncIterator[FakeLLM]:
    async with fake_openai() as server:
        yield server


@pytest.fixture
async def anthropic_server() -> AsyncIterator[FakeLLM]:
    async with fake_anthropic() as server:
        yield server


async def _conversation(
    server: RunningServer, admin: httpx.AsyncClient, brain: dict[str, Any], fake: FakeLLM
) -> str:
    """Two rounds; the second reply differs (the same text twice in 5 min is refused)."""
    sid = await assistant_session(server, admin, brain=brain, history_window=10)
    await say(admin, sid, "hi")

    async def first() -> bool:
        return len(server.network.sent(sid)) == 1

    await advance_until(server, first)
    await hold_still(server, 1)
    first_reply = fake.reply
    fake.reply = f"{first_reply} (2)"
    await say(admin, sid, "what do you sell?")
    await say(admin, sid, "and the prices?")

    async def second() -> bool:
        return len(server.network.sent(sid)) == 2

    await advance_until(server, second)
    return sid


@pytest.mark.parametrize("kind", ["openai", "openai_compatible"])
async def test_openai_brains(
    server: RunningServer, admin: httpx.AsyncClient, openai_server: FakeLLM, kind: str
) -> None:
    brain = {
        "kind": kind,
        "model": "gpt-test",
        "base_url": openai_server.base_url,
        "api_key": "sk-test-key",
        "system_prompt": "You sell shoes.",
    }
    sid = await _conversation(server, admin, brain, openai_server)
    assert await sent_texts(server, sid) == ["hello from the model", "hello from the model (2)"]
    assert len(openai_server.requests) == 2
    request = openai_server.requests[1]
    assert request["model"] == "gpt-test"
    assert request["messages"] == [
        {"role": "system", "content": "You sell shoes."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello from the model"},
        {"role": "user", "content": "what do you sell?\nand the prices?"},
    ]
    assert openai_server.headers[1]["authorization"] == "Bearer sk-test-key"


async def test_anthropic_brain(
    server: RunningServer, admin: httpx.AsyncClient, anthropic_server: FakeLLM
) -> None:
    anthropic_server.reply = "hola!"
    brain = {
        "kind": "anthropic",
        "model": "claude-test",
        "base_url": anthropic_server.base_url,
        "api_key": "sk-ant-test",
        "system_prompt": "Be brief.",
        "max_tokens": 300,
    }
    sid = await _conversation(server, admin, brain, anthropic_server)
    assert await sent_texts(server, sid) == ["hola!", "hola! (2)"]
    request = anthropic_server.requests[1]
    assert request["model"] == "claude-test"
    assert request["max_tokens"] == 300
    assert request["system"] == "Be brief."
    assert request["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hola!"},
        {"role": "user", "content": "what do you sell?\nand the prices?"},
    ]
    headers = anthropic_server.headers[1]  # SDK 2.x sends the key as a bearer token
    assert "sk-ant-test" in (headers.get("x-api-key", ""), headers.get("authorization", "")[7:])


async def test_history_window_limits_the_turns(
    server: RunningServer, admin: httpx.AsyncClient, openai_server: FakeLLM
) -> None:
    brain = {"kind": "openai_compatible", "model": "llama", "base_url": openai_server.base_url}
    sid = await assistant_session(server, admin, brain=brain, history_window=1)
    for n, text in enumerate(("one", "two")):
        openai_server.reply = f"reply {n}"
        await say(admin, sid, text)

        async def answered(n: int = n) -> bool:
            return len(server.network.sent(sid)) == n + 1

        await advance_until(server, answered)
        await hold_still(server, 1)
    assert openai_server.requests[1]["messages"] == [
        {"role": "assistant", "content": "reply 0"},
        {"role": "user", "content": "two"},
    ]


@pytest.mark.parametrize("which", ["openai", "anthropic"])
async def test_model_errors_fall_back(
    server: RunningServer,
    admin: httpx.AsyncClient,
    openai_server: FakeLLM,
    anthropic_server: FakeLLM,
    which: str,
) -> None:
    fake = openai_server if which == "openai" else anthropic_server
    fake.status = 529 if which == "anthropic" else 500
    brain = {"kind": which, "model": "m", "base_url": fake.base_url, "api_key": "k"}
    sid = await assistant_session(server, admin, brain=brain, fallback_reply="We'll be right back.")
    await say(admin, sid, "hello")

    async def answered() -> bool:
        return len(server.network.sent(sid)) == 1

    await advance_until(server, answered)
    assert await sent_texts(server, sid) == ["We'll be right back."]
    assert len(fake.requests) == 1  # no SDK retries: the engine decides


@pytest.mark.parametrize(
    ("kind", "module"),
    [
        ("anthropic", "wagate.engine.brains.anthropic"),
        ("openai_compatible", "wagate.engine.brains.openai"),
    ],
)
async def test_a_brains_sdk_is_imported_off_the_event_loop_once(
    kind: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its first use would otherwise hold every session of the worker for the import."""
    real_import = importlib.import_module
    imports: list[tuple[str, bool]] = []

    def watched_import(name: str, package: str | None = None) -> ModuleType:
        imports.append((name, threading.current_thread() is threading.main_thread()))
        return real_import(name, package)

    monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.setattr(importlib, "import_module", watched_import)
    await Brains.load(kind)
    await Brains.load(kind)
    assert [name for name, _ in imports].count(module) == 1  # once
    assert not [name for name, in_loop_thread in imports if in_loop_thread]  # (the SDK's own too)
    assert module in sys.modules
