"""A JSON call to another system's HTTP API (Chatwoot, a control plane), its failures
sorted the way a :class:`~wagate.events.follower.LogFollower` needs: no answer, 5xx and
429 are :class:`~wagate.events.follower.Unreachable` (try the same again later); another
4xx is the caller's ``refused`` error (trying again will not help)."""

from __future__ import annotations

from typing import Any

import httpx

from wagate.domain import WagateError
from wagate.events.follower import Unreachable


async def json_call(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    unreachable: type[Unreachable],
    refused: type[WagateError],
    **kwargs: Any,
) -> httpx.Response:
    """The answer (2xx, or a status the caller looks at itself, e.g. 409); ``what`` names
    the other system in messages."""
    try:
        answer = await http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise unreachable(f"{what} did not answer: {exc!r}") from None
    if answer.status_code >= 500 or answer.status_code == 429:
        raise unreachable(f"{what} answered {answer.status_code}")
    if answer.status_code >= 400 and answer.status_code != 409:
        path = httpx.URL(url).path
        raise refused(
            f"{what} answered {answer.status_code} to {method} {path}: {answer.text[:300]}"
        )
    return answer


def body_of(answer: httpx.Response) -> Any:
    """The answer's JSON, its text when it is not JSON, None when empty."""
    if not answer.content:
        return None
    try:
        return answer.json()
    except ValueError:
        return answer.text
