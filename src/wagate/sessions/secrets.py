"""Engine credentials inside session configs, sealed at rest.

A transport names the config fields that are secrets (a Cloud API access token
and app secret, an Evolution API key); they are stored sealed with the
installation's key, bound to the session id and field name, and opened only
when a transport is built or an ingest webhook must be verified. A proxy URL's
user name and password are sealed likewise, in place.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from wagate.store.crypto import SEALED_PREFIX, SecretBox
from wagate.transports.registry import TransportRegistry


class ConfigSecrets:
    def __init__(self, box: SecretBox, registry: TransportRegistry) -> None:
        self.box = box
        self.registry = registry

    def seal(self, transport: str, session_id: str, config: dict[str, Any]) -> dict[str, Any]:
        sealed = dict(config)
        for name in self.registry.secret_fields(transport):
            value = sealed.get(name)
            if isinstance(value, str) and value:
                sealed[name] = self.box.seal(value, _context(session_id, name))
        return sealed

    def seal_proxy(self, session_id: str, url: str) -> str:
        """The proxy URL with its user name and password sealed in place (the host stays
        readable, so the URL can be shown without them)."""
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url
        userinfo, _, hostport = parts.netloc.rpartition("@")
        sealed = self.box.seal(unquote(userinfo), _context(session_id, "proxy"))
        netloc = f"{quote(sealed, safe='')}@{hostport}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def open_proxy(self, session_id: str, url: str) -> str:
        """The proxy URL as the transport needs it (a URL stored before sealing is as is)."""
        parts = urlsplit(url)
        userinfo, at, hostport = parts.netloc.rpartition("@")
        if not at or not unquote(userinfo).startswith(SEALED_PREFIX):
            return url
        opened = self.box.open(unquote(userinfo), _context(session_id, "proxy"))
        user, colon, password = opened.partition(":")
        credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if colon else "")
        netloc = f"{credentials}@{hostport}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def open(self, transport: str, session_id: str, config: dict[str, Any]) -> dict[str, Any]:
        opened = dict(config)
        for name in self.registry.secret_fields(transport):
            value = opened.get(name)
            if isinstance(value, str) and value:
                opened[name] = self.box.open(value, _context(session_id, name))
        return opened


def _context(session_id: str, field: str) -> str:
    return f"session:{session_id}:config:{field}"
