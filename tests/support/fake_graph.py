"""A fake Graph API (Meta's WhatsApp Cloud API) on 127.0.0.1, recording every request.

It answers the calls the cloud transport makes, in the shapes Meta documents:

* ``GET /v<ver>/<phone_number_id>``: the phone number's fields;
* ``POST /v<ver>/<phone_number_id>/messages``: a send (answers a ``wamid``),
  or a read receipt / typing indicator (``{"status": "read"}``, answers success);
* ``POST /v<ver>/<phone_number_id>/media``: a multipart upload (answers an id);
* ``GET /v<ver>/<media_id>``: a media URL pointing back at this server;
* ``GET /download/<media_id>``: the bytes, only with the bearer token.

Tests queue error answers with :meth:`FakeGraph.fail_next`; a wrong bearer
token gets Meta's 401 with code 190.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None = None
    form: dict[str, Any] = field(default_factory=dict)  # multipart fields; files as bytes


@dataclass
class StoredMedia:
    data: bytes
    mime_type: str


class FakeGraph:
    def __init__(
        self, *, token: str, phone_number_id: str, display_phone_number: str = "+1 555-010-0123"
    ) -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self.display_phone_number = display_phone_number
        self.verified_name = "Acme Support"
        self.requests: list[Recorded] = []
        self.media: dict[str, StoredMedia] = {}
        self.profile: dict[str, Any] = {
            "about": "Open 9-18h",
            "address": "Rua Augusta 100",
            "description": "Shoes",
            "email": "shop@acme.example",
            "profile_picture_url": "https://pps.whatsapp.net/v/shop.jpg",
            "websites": ["https://acme.example"],
            "vertical": "RETAIL",
        }
        self.blocked: set[str] = set()
        self.failures: list[tuple[int, dict[str, Any]]] = []
        self.fail_downloads = False
        self._ids = itertools.count(1)
        self.url = ""

    # ------------------------------------------------------------------ test controls

    def fail_next(self, status: int, code: int, message: str = "failure", **extra: Any) -> None:
        """The next API request (not a download) gets this Graph error."""
        error = {"message": message, "type": "OAuthException", "code": code, **extra}
        self.failures.append((status, {"error": error}))

    def add_media(self, media_id: str, data: bytes, mime_type: str) -> None:
        self.media[media_id] = StoredMedia(data, mime_type)

    def sent(self) -> list[dict[str, Any]]:
        """JSON bodies of message sends (not read receipts or typing)."""
        return [
            r.json
            for r in self.requests
            if r.method == "POST"
            and r.path.endswith("/messages")
            and r.json is not None
            and "status" not in r.json
        ]

    def receipts(self) -> list[dict[str, Any]]:
        """JSON bodies of read receipts and typing indicators."""
        return [
            r.json
            for r in self.requests
            if r.path.endswith("/messages") and r.json is not None and "status" in r.json
        ]

    def uploads(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/media")]

    # ------------------------------------------------------------------ handlers

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def _auth_error(self) -> web.Response:
        return web.json_response(
            {
                "error": {
                    "message": "Error validating access token: Session has expired.",
                    "type": "OAuthException",
                    "code": 190,
                    "error_subcode": 463,
                    "fbtrace_id": "Afake",
                }
            },
            status=401,
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = Recorded(request.method, request.path, dict(request.headers))
        if request.content_type == "application/json":
            record.json = await request.json()
        elif request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                name = part.name or ""
                if part.filename:
                    record.form[name] = await part.read()
                    record.form["filename"] = part.filename
                    record.form["content_type"] = part.headers.get("Content-Type")
                else:
                    record.form[name] = await part.text()
        self.requests.append(record)
        if request.path.startswith("/download/"):
            return self._download(request)
        if not self._authorized(request):
            return self._auth_error()
        if self.failures:
            status, body = self.failures.pop(0)
            return web.json_response(body, status=status)
        parts = request.path.strip("/").split("/")  # v26.0, <id>, [edge]
        if len(parts) == 2 and request.method == "GET":
            if parts[1] == self.phone_number_id:
                return self._phone_number()
            return self._media_url(parts[1])
        if len(parts) == 3 and parts[1] == self.phone_number_id and request.method == "POST":
            if parts[2] == "messages":
                return self._message(record.json or {})
            if parts[2] == "media":
                return self._upload(record)
        if len(parts) == 3 and parts[1] == self.phone_number_id:
            if parts[2] == "whatsapp_business_profile":
                return self._business_profile(request.method, record.json or {})
            if parts[2] == "block_users":
                return self._block_users(request.method, record.json or {})
        return web.json_response(
            {
                "error": {
                    "message": "Unknown path components",
                    "type": "OAuthException",
                    "code": 2500,
                }
            },
            status=400,
        )

    def _business_profile(self, method: str, body: dict[str, Any]) -> web.Response:
        """``GET`` (``{"data": [profile]}``) or ``POST`` a change of the business profile."""
        if method == "POST":
            self.profile.update({k: v for k, v in body.items() if k != "messaging_product"})
            return web.json_response({"success": True})
        return web.json_response({"data": [{"messaging_product": "whatsapp", **self.profile}]})

    def _block_users(self, method: str, body: dict[str, Any]) -> web.Response:
        users = [u["user"] for u in body.get("block_users", [])]
        key = "added_users" if method == "POST" else "removed_users"
        if method == "POST":
            self.blocked.update(users)
        else:
            self.blocked.difference_update(users)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "block_users": {key: [{"input": u, "wa_id": u} for u in users]},
            }
        )

    def _phone_number(self) -> web.Response:
        return web.json_response(
            {
                "id": self.phone_number_id,
                "display_phone_number": self.display_phone_number,
                "verified_name": self.verified_name,
                "quality_rating": "GREEN",
            }
        )

    def _message(self, body: dict[str, Any]) -> web.Response:
        if "status" in body:  # read receipt, with or without a typing indicator
            return web.json_response({"success": True})
        to = body.get("to") or body.get("recipient")
        wamid = f"wamid.FAKE{next(self._ids):06d}"
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": wamid}],
            }
        )

    def _upload(self, record: Recorded) -> web.Response:
        media_id = str(900000 + next(self._ids))
        data = record.form.get("file", b"")
        self.media[media_id] = StoredMedia(
            data if isinstance(data, bytes) else b"", str(record.form.get("type") or "")
        )
        return web.json_response({"id": media_id})

    def _media_url(self, media_id: str) -> web.Response:
        stored = self.media.get(media_id)
        if stored is None:
            return web.json_response(
                {
                    "error": {
                        "message": "Invalid media id",
                        "type": "GraphMethodException",
                        "code": 100,
                    }
                },
                status=400,
            )
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/download/{media_id}",
                "mime_type": stored.mime_type,
                "sha256": hashlib.sha256(stored.data).hexdigest(),
                "file_size": len(stored.data),
                "id": media_id,
            }
        )

    def _download(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401)
        if self.fail_downloads:
            return web.Response(status=500)
        stored = self.media.get(request.path.rsplit("/", 1)[-1])
        if stored is None:
            return web.Response(status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type.split(";")[0])


@asynccontextmanager
async def running_fake_graph(
    *, token: str, phone_number_id: str, display_phone_number: str = "+1 555-010-0123"
) -> AsyncIterator[FakeGraph]:
    fake = FakeGraph(
        token=token, phone_number_id=phone_number_id, display_phone_number=display_phone_number
    )
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", fake._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp keeps the server private
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- API-test helpers

CLOUD_TOKEN = "EAAtest-token-0123456789"
CLOUD_PHONE_ID = "106540352242922"
CLOUD_APP_SECRET = "app-secret-0123456789"
CLOUD_VERIFY_TOKEN = "verify-me-please"


def cloud_config(**overrides: Any) -> dict[str, Any]:
    """A cloud session's config that matches the fake Graph server's defaults."""
    return {
        "phone_number_id": CLOUD_PHONE_ID,
        "access_token": CLOUD_TOKEN,
        "app_secret": CLOUD_APP_SECRET,
        "verify_token": CLOUD_VERIFY_TOKEN,
        **overrides,
    }


def sign(body: bytes, app_secret: str = CLOUD_APP_SECRET) -> str:
    """``X-Hub-Signature-256`` as Meta computes it."""
    import hmac

    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
