"""The HTTP client given to the OpenAI and Anthropic SDKs: public addresses only.

The SDKs are built on ``httpx2`` (a fork of httpx with its own httpcore2), so the
connect-time check of :mod:`wagate.domain.public_net` is given httpcore2's pool
here. The base URL is a tenant's: connections go to public addresses only,
checked when connecting, and redirects are not followed. Imported only with the
SDKs (see ``brains/__init__.py``).
"""

from __future__ import annotations

import httpcore2
import httpx2

from wagate.domain.public_net import public_pool


def sdk_http_client(*, allow_private: bool) -> httpx2.AsyncClient:
    limits = httpx2.Limits(max_connections=100, max_keepalive_connections=100)
    transport = httpx2.AsyncHTTPTransport(limits=limits, trust_env=False)
    if not allow_private:
        transport._pool = public_pool(httpcore2, httpx2.create_ssl_context(), limits)
    return httpx2.AsyncClient(transport=transport, follow_redirects=False)
