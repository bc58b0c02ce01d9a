"""The outgoing client's safety rules, against a real receiver on loopback."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.events.support import Receiver
from wagate.events import WebhookClient
from wagate.events.client import EXCERPT_LIMIT, parse_retry_after

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def client(*, allow_private: bool = True, timeout_s: float = 5.0) -> WebhookClient:
    return WebhookClient(timeout_s=timeout_s, allow_private=allow_private, now=lambda: NOW)


async def test_private_addresses_are_refused_before_connecting(receiver: Receiver) -> None:
    strict = client(allow_private=False)
    try:
        port = receiver.url.split(":")[2].split("/")[0]
        for url in (receiver.url, f"http://localhost:{port}/hook", "http://[::1]:9/x"):
            result = await strict.post(url, b"{}", {"content-type": "application/json"})
            assert result.status is None, url
            assert (result.error or "").startswith("unsafe_url"), (url, result.error)
            assert not result.ok
    finally:
        await strict.close()
    assert receiver.received == []


async def test_allowed_when_private_urls_are_allowed(receiver: Receiver) -> None:
    local = client()
    try:
        result = await local.post(receiver.url, b'{"a":1}', {"content-type": "application/json"})
    finally:
        await local.close()
    assert result.ok
    assert (result.status, result.error) == (204, None)
    assert receiver.received[0].body == b'{"a":1}'


async def test_timeout(receiver: Receiver) -> None:
    receiver.gate.clear()
    quick = client(timeout_s=0.3)
    try:
        result = await quick.post(receiver.url, b"{}", {})
    finally:
        await quick.close()
        receiver.gate.set()
    assert (result.status, result.error) == (None, "timeout")


async def test_only_the_start_of_a_large_answer_is_kept(receiver: Receiver) -> None:
    receiver.answer = lambda _: (500, {}, b"x" * 200_000)
    local = client()
    try:
        result = await local.post(receiver.url, b"{}", {})
    finally:
        await local.close()
    assert (result.status, result.error) == (500, "http_500")
    assert result.response == "x" * EXCERPT_LIMIT


async def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.answer = lambda _: (302, {"Location": "http://169.254.169.254/"}, b"")
    local = client()
    try:
        result = await local.post(receiver.url, b"{}", {})
    finally:
        await local.close()
    assert (result.status, result.error) == (302, "http_302")
    assert len(receiver.received) == 1


async def test_refused_connection() -> None:
    local = client()
    try:
        result = await local.post("http://127.0.0.1:9/nothing", b"{}", {})
    finally:
        await local.close()
    assert result.status is None
    assert (result.error or "").startswith("connection_failed")


async def test_retry_after_is_read_on_429_and_503(receiver: Receiver) -> None:
    answers = iter([(429, {"Retry-After": "30"}, b""), (500, {"Retry-After": "30"}, b"")])
    receiver.answer = lambda _: next(answers)
    local = client()
    try:
        first = await local.post(receiver.url, b"{}", {})
        second = await local.post(receiver.url, b"{}", {})
    finally:
        await local.close()
    assert first.retry_after_s == 30.0
    assert second.retry_after_s is None  # only 429 and 503 carry a meaningful Retry-After


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after("Mon, 05 Jan 2026 12:01:00 GMT", NOW) == 60.0
    assert parse_retry_after("Mon, 05 Jan 2026 11:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("99999999", NOW) == 86400.0
