"""A small client for Evolution API's REST endpoints (v2), with its errors mapped.

Every call carries the ``apikey`` header. Failures become wagate's transport
errors: no answer (connect error, timeout) or a 5xx is a
:class:`TransientSendError` (the delivery queue retries it); a 4xx is a
:class:`PermanentSendError` carrying Evolution's own message (a number not on
WhatsApp, a bad media URL...). 401/403 get the code ``evolution_unauthorized``
and 404 ``evolution_instance_not_found``, because they mean the session's
config is wrong rather than the message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from wagate.domain import PermanentSendError, TransientSendError

_MAX_MESSAGE = 500


class EvolutionClient:
    def __init__(
        self,
        base_url: str,
        instance: str,
        api_key: str,
        *,
        timeout_s: float = 30.0,
        proxy: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.instance = instance
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"apikey": api_key, "accept": "application/json"},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            proxy=proxy,
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def _path(self, group: str, action: str, per_instance: bool) -> str:
        if not per_instance:
            return f"/{group}/{action}"
        return f"/{group}/{action}/{quote(self.instance, safe='')}"

    async def call(
        self,
        method: str,
        group: str,
        action: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        per_instance: bool = True,
    ) -> Any:
        """One request; the decoded JSON answer, or a mapped transport error."""
        path = self._path(group, action, per_instance)
        try:
            response = await self._http.request(method, path, json=json, params=params)
        except httpx.TimeoutException as exc:
            raise TransientSendError(
                f"Evolution did not answer {group}/{action} in time: {exc!r}",
                code="evolution_timeout",
            ) from None
        except httpx.HTTPError as exc:
            raise TransientSendError(
                f"cannot reach Evolution for {group}/{action}: {exc!r}",
                code="evolution_unreachable",
            ) from None
        body = _json(response)
        status = response.status_code
        if status < 400:
            return body
        message = f"Evolution {group}/{action} answered {status}: {error_message(body, response)}"
        if status >= 500 or status in (408, 429):
            retry_after = _retry_after(response)
            raise TransientSendError(message, code="evolution_unavailable", retry_after=retry_after)
        if status in (401, 403):
            raise PermanentSendError(message, code="evolution_unauthorized")
        if status == 404:
            raise PermanentSendError(message, code="evolution_instance_not_found")
        raise PermanentSendError(message, code="evolution_rejected")

    # ------------------------------------------------------------------ endpoints

    async def connection_state(self) -> str:
        """``open``, ``connecting``, ``close`` (or ``refused``), lowercased."""
        body = await self.call("GET", "instance", "connectionState")
        node = body.get("instance", body) if isinstance(body, dict) else {}
        state = node.get("state") if isinstance(node, dict) else None
        return str(state or "close").lower()

    async def connect(self, number: str | None = None) -> dict[str, Any]:
        """Start the instance's login: ``{"code", "pairingCode", ...}`` or its state if open."""
        params = {"number": number} if number else None
        body = await self.call("GET", "instance", "connect", params=params)
        return body if isinstance(body, dict) else {}

    async def instance_info(self) -> dict[str, Any]:
        """The instance's row from ``fetchInstances`` (owner JID, profile name); {} if absent."""
        body = await self.call(
            "GET",
            "instance",
            "fetchInstances",
            params={"instanceName": self.instance},
            per_instance=False,
        )
        rows = body if isinstance(body, list) else [body]
        for row in rows:
            if not isinstance(row, dict):
                continue
            node = row.get("instance", row)  # v1 nests the fields under "instance"
            if isinstance(node, dict) and self.instance in (
                node.get("name"),
                node.get("instanceName"),
            ):
                return node
        first = rows[0] if rows and isinstance(rows[0], dict) else {}
        node = first.get("instance", first)
        return node if isinstance(node, dict) else {}

    async def logout(self) -> None:
        await self.call("DELETE", "instance", "logout")

    async def chat(self, action: str, body: dict[str, Any]) -> Any:
        return await self.call("POST", "chat", action, json=body)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def error_message(body: Any, response: httpx.Response) -> str:
    """Evolution's error text: ``{"response": {"message": [...]}}`` in v2, else what is there."""
    found: Any = None
    if isinstance(body, dict):
        inner = body.get("response")
        found = (
            (inner.get("message") if isinstance(inner, dict) else None)
            or body.get("message")
            or body.get("error")
        )
    if found is None:
        found = response.text or response.reason_phrase
    if isinstance(found, list):
        found = "; ".join(_one(item) for item in found)
    return str(found)[:_MAX_MESSAGE]


def _one(item: Any) -> str:
    if isinstance(item, dict) and item.get("exists") is False:
        return f"{item.get('number') or item.get('jid')} is not on WhatsApp"
    return str(item)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None
