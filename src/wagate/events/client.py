"""The outgoing side of webhook delivery: one aiohttp session, safe by default.

aiohttp rather than httpx: for many small signed POSTs to a local receiver it
measured about ten times faster here (DESIGN.md, last table). Safety:

- unless ``WAGATE_ALLOW_PRIVATE_URLS`` is on, every address a host name
  resolves to is checked when a connection is made (in the resolver, so the
  address checked is the address connected to: no DNS rebinding between a
  check and the request), and IP-literal URLs are checked before sending;
- redirects are not followed (a 3xx is a failed attempt);
- connect and read time out after ``WAGATE_WEBHOOK_TIMEOUT_S``;
- at most :data:`READ_LIMIT` bytes of an answer are read, and
  :data:`EXCERPT_LIMIT` characters are kept for the deliveries list.

The connector has no global connection limit on purpose: the per-endpoint
in-flight cap bounds concurrency, and a shared limit would let a slow
endpoint's connections hold back everybody else's.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from socket import AddressFamily
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from wagate.domain import UnsafeUrl
from wagate.domain.urls import ensure_public_url

READ_LIMIT = 4096
EXCERPT_LIMIT = 1024
MAX_RETRY_AFTER_S = 86400.0


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """How one POST went."""

    status: int | None  # the HTTP status, None when there was no answer
    error: str | None  # why it failed (None on 2xx)
    response: str | None  # the start of the answer's body
    retry_after_s: float | None  # from a Retry-After header on 429 and 503
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def _check_address(address: str) -> None:
    literal = f"[{address}]" if ":" in address else address
    await ensure_public_url(f"http://{literal}/", allow_private=False)


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses private addresses."""

    def __init__(self) -> None:
        self._inner = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: AddressFamily = AddressFamily.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            await _check_address(result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - now).total_seconds()
        except (TypeError, ValueError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


class RequestFailed(Exception):
    """A request got no answer: refused as unsafe, timed out, no connection, broken reply."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "unsafe_url: ...", "timeout", "connection_failed: ..."


class RequestTimedOut(RequestFailed, TimeoutError):
    """No answer within the timeout."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes  # at most the read limit asked for


class PublicHttp:
    """An aiohttp session for requests to URLs that tenants give us (webhooks, brains).

    Unless ``allow_private``, only global addresses are connected to, checked
    when the connection is made; redirects are not followed; at most
    ``read_limit`` bytes of an answer are read.
    """

    def __init__(self, *, timeout_s: float, allow_private: bool) -> None:
        self.timeout = aiohttp.ClientTimeout(
            total=timeout_s, sock_connect=timeout_s, sock_read=timeout_s
        )
        self.allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None
        self._literal_verdicts: dict[str, str | None] = {}

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=0,
                resolver=None if self.allow_private else PublicOnlyResolver(),
                ttl_dns_cache=60,
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        read_limit: int,
        timeout_s: float | None = None,
    ) -> Answer:
        """POST ``body``; the answer, whatever its status. Raises :class:`RequestFailed`."""
        refused = await self._refuse_literal(url)
        if refused is not None:
            raise RequestFailed(refused)
        timeout = self.timeout if timeout_s is None else _timeout(timeout_s)
        try:
            async with self._open().post(
                url, data=body, headers=headers, allow_redirects=False, timeout=timeout
            ) as answer:
                raw = await _read_some(answer.content, read_limit)
                return Answer(answer.status, answer.headers, raw)
        except UnsafeUrl as exc:
            raise RequestFailed(f"unsafe_url: {exc.message}") from None
        except TimeoutError:
            raise RequestTimedOut("timeout") from None
        except aiohttp.ClientConnectorError as exc:
            raise RequestFailed(f"connection_failed: {exc.os_error or exc}") from None
        except aiohttp.ClientError as exc:
            reason = f"request_failed: {type(exc).__name__}: {exc}"[:EXCERPT_LIMIT]
            raise RequestFailed(reason) from None

    async def _refuse_literal(self, url: str) -> str | None:
        """For URLs whose host is an IP address (the resolver never sees those)."""
        if self.allow_private:
            return None
        host = urlsplit(url).hostname or ""
        if host not in self._literal_verdicts:
            verdict = None
            try:
                ipaddress.ip_address(host)
            except ValueError:
                pass  # a name: the resolver checks it
            else:
                try:
                    await _check_address(host)
                except UnsafeUrl as exc:
                    verdict = f"unsafe_url: {exc.message}"
            if len(self._literal_verdicts) > 10000:
                self._literal_verdicts.clear()
            self._literal_verdicts[host] = verdict
        return self._literal_verdicts[host]


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds, sock_connect=seconds, sock_read=seconds)


class WebhookClient:
    """Posts signed bodies; never raises for a failed attempt, returns :class:`AttemptResult`."""

    def __init__(
        self, *, timeout_s: float, allow_private: bool, now: Callable[[], datetime]
    ) -> None:
        self.http = PublicHttp(timeout_s=timeout_s, allow_private=allow_private)
        # the operator's own endpoints (WAGATE_WEBHOOK_URL) may be private: n8n beside wagate
        self.operator_http = PublicHttp(timeout_s=timeout_s, allow_private=True)
        self.now = now

    async def close(self) -> None:
        await self.http.close()
        await self.operator_http.close()

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, operator: bool = False
    ) -> AttemptResult:
        """One attempt; ``operator``: the endpoint was set by the operator, not through the
        API, and may be a private address."""
        started = time.perf_counter()
        http = self.operator_http if operator else self.http

        def result(
            status: int | None,
            error: str | None,
            response: str | None = None,
            retry_after: float | None = None,
        ) -> AttemptResult:
            elapsed = int((time.perf_counter() - started) * 1000)
            return AttemptResult(status, error, response, retry_after, elapsed)

        try:
            answer = await http.post(url, body, headers, read_limit=READ_LIMIT)
        except RequestFailed as exc:
            return result(None, exc.reason)
        excerpt = answer.body.decode("utf-8", "replace")[:EXCERPT_LIMIT] or None
        retry_after = None
        if answer.status in (429, 503):
            retry_after = parse_retry_after(answer.headers.get("retry-after"), self.now())
        error = None if 200 <= answer.status < 300 else f"http_{answer.status}"
        return result(answer.status, error, excerpt, retry_after)


async def _read_some(stream: aiohttp.StreamReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
