"""A fake Evolution API server on 127.0.0.1 (aiohttp.web) that records every request.

It answers the v2 endpoints the evolution transport uses with Evolution's
shapes, keeps one instance's connection state (``close`` -> ``connecting`` on
``/instance/connect`` -> ``open`` when a test "scans"), and can be told to fail
the next sends with a given status and body.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API_KEY = "evo-secret-key"
OWNER = "5511900000000"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class FakeEvolution:
    instance: str = "sales"
    api_key: str = API_KEY
    state: str = "close"
    owner: str = OWNER
    profile_name: str = "Sales Team"
    requests: list[Recorded] = field(default_factory=list)
    failures: deque[tuple[int, Any]] = field(default_factory=deque)
    delay_s: float = 0.0  # answer sends this late (to provoke client timeouts)
    qr_count: int = 0
    pairing: bool = False
    sent: int = 0
    base_url: str = ""
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # Baileys GroupMetadata
    status: str = "Hey there! I am using WhatsApp."
    blocked: set[str] = field(default_factory=set)

    def scan(self) -> None:
        """The phone scanned the QR code: the instance is logged in."""
        self.state = "open"

    def rotate_qr(self) -> None:
        """WhatsApp issued the next QR code of the login."""
        self.qr_count += 1

    def calls(self, group: str, action: str) -> list[Recorded]:
        prefix = f"/{group}/{action}"
        return [r for r in self.requests if r.path.startswith(prefix)]

    # ------------------------------------------------------------------ the app

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record, self._auth])
        app.router.add_get("/instance/connectionState/{instance}", self._state)
        app.router.add_get("/instance/connect/{instance}", self._connect)
        app.router.add_get("/instance/fetchInstances", self._fetch)
        app.router.add_delete("/instance/logout/{instance}", self._logout)
        # edits and deletes are sent as messages too: Evolution answers with the sent one
        app.router.add_post("/chat/updateMessage/{instance}", self._send)
        app.router.add_delete("/chat/deleteMessageForEveryone/{instance}", self._send)
        app.router.add_post("/group/create/{instance}", self._group_create)
        app.router.add_get("/group/findGroupInfos/{instance}", self._group_info)
        app.router.add_get("/group/inviteCode/{instance}", self._group_invite)
        app.router.add_delete("/group/leaveGroup/{instance}", self._group_leave)
        app.router.add_post("/group/{action}/{instance}", self._group_change)
        app.router.add_post("/message/updateBlockStatus/{instance}", self._block)
        app.router.add_post("/message/{action}/{instance}", self._send)
        app.router.add_post("/chat/fetchProfile/{instance}", self._profile)
        app.router.add_post("/chat/{action}/{instance}", self._chat)
        return app

    # ------------------------------------------------------------------ groups and profiles

    def _group(self, request: web.Request) -> dict[str, Any] | None:
        return self.groups.get(request.query.get("groupJid", ""))

    @staticmethod
    def _reachable(number: str) -> bool:
        return not number.startswith(("0", "999"))

    async def _group_create(self, request: web.Request) -> web.Response:
        body = request_body(self.requests[-1])
        jid = f"120363{len(self.groups) + 700:011d}@g.us"
        people = [{"id": f"{self.owner}@s.whatsapp.net", "admin": "superadmin"}]
        people += [
            {"id": f"{n}@s.whatsapp.net", "admin": None}
            for n in body.get("participants", [])
            if self._reachable(n)
        ]
        self.groups[jid] = {
            "id": jid,
            "subject": body["subject"],
            "owner": f"{self.owner}@s.whatsapp.net",
            "creation": 1767614400,
            "desc": None,
            "announce": False,
            "restrict": False,
            "participants": people,
            "inviteCode": "FAKECODE1",
        }
        return web.json_response(self.groups[jid], status=201)

    async def _group_info(self, request: web.Request) -> web.Response:
        group = self._group(request)
        if group is None:
            return _error(404, "Not Found", ["item-not-found"])
        return web.json_response(group)

    async def _group_invite(self, request: web.Request) -> web.Response:
        group = self._group(request)
        if group is None:
            return _error(404, "Not Found", ["item-not-found"])
        code = group["inviteCode"]
        return web.json_response(
            {"inviteUrl": f"https://chat.whatsapp.com/{code}", "inviteCode": code}
        )

    async def _group_leave(self, request: web.Request) -> web.Response:
        group = self.groups.pop(request.query.get("groupJid", ""), None)
        if group is None:
            return _error(404, "Not Found", ["item-not-found"])
        return web.json_response({"groupJid": group["id"], "leave": True})

    async def _group_change(self, request: web.Request) -> web.Response:
        group = self._group(request)
        if group is None:
            return _error(404, "Not Found", ["item-not-found"])
        body = request_body(self.requests[-1])
        action = request.match_info["action"]
        if action == "updateGroupSubject":
            group["subject"] = body["subject"]
        elif action == "updateGroupDescription":
            group["desc"] = body["description"]
        elif action == "updateSetting":
            setting = body["action"]
            group["announce" if "announcement" in setting else "restrict"] = not setting.startswith(
                ("not_", "un")
            )
        elif action == "revokeInviteCode":
            group["inviteCode"] = "FAKECODE2"
            return web.json_response({"revoked": True, "inviteCode": "FAKECODE2"}, status=201)
        elif action == "updateParticipant":
            results = []
            for number in body["participants"]:
                jid = f"{number}@s.whatsapp.net"
                ok = self._reachable(number)
                if ok and body["action"] == "add":
                    group["participants"].append({"id": jid, "admin": None})
                results.append({"status": "200" if ok else "404", "jid": jid})
            return web.json_response({"updateParticipants": results}, status=201)
        elif action != "updateGroupPicture":
            return _error(404, "Not Found", [f"Cannot POST /group/{action}"])
        return web.json_response({"update": "success"}, status=201)

    async def _profile(self, request: web.Request) -> web.Response:
        number = str(request_body(self.requests[-1]).get("number"))
        own = number == self.owner
        return web.json_response(
            {
                "wuid": f"{number}@s.whatsapp.net",
                "name": self.profile_name if own else "Ana",
                "numberExists": self._reachable(number),
                "picture": None,
                "status": {"status": self.status if own else "Available", "setAt": None},
            }
        )

    async def _block(self, request: web.Request) -> web.Response:
        body = request_body(self.requests[-1])
        (self.blocked.add if body["status"] == "block" else self.blocked.discard)(body["number"])
        return web.json_response({"block": "success"}, status=201)

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.query),
                body,
                {k.lower(): v for k, v in request.headers.items()},
            )
        )
        response: web.StreamResponse = await handler(request)
        return response

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("apikey") != self.api_key:
            return _error(401, "Unauthorized", "Unauthorized")
        name = request.match_info.get("instance")
        if name is not None and name != self.instance:
            return _error(404, "Not Found", [f'The "{name}" instance does not exist'])
        response: web.StreamResponse = await handler(request)
        return response

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response({"instance": {"instanceName": self.instance, "state": self.state}})

    async def _connect(self, request: web.Request) -> web.Response:
        if self.state == "open":
            return await self._state(request)
        number = request.query.get("number")
        if self.state == "close":  # a new login; while connecting, the current code again
            self.state = "connecting"
            self.qr_count += 1
            self.pairing = bool(number)
        return web.json_response(
            {
                "pairingCode": "WZYEH1YY" if self.pairing else None,
                "code": f"2@fakeqr{self.qr_count},key=,adv=,1",
                "base64": "data:image/png;base64,iVBORw0KGgo=",
                "count": self.qr_count,
            }
        )

    async def _fetch(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "id": "0f4b1c0e-6a53-4f0e-9b7d-3c0a1f2e4d5c",
                    "name": self.instance,
                    "connectionStatus": self.state,
                    "ownerJid": f"{self.owner}@s.whatsapp.net" if self.state == "open" else None,
                    "profileName": self.profile_name,
                    "integration": "WHATSAPP-BAILEYS",
                }
            ]
        )

    async def _logout(self, request: web.Request) -> web.Response:
        if self.state == "close":
            return _error(400, "Bad Request", ['The "sales" instance is not connected'])
        self.state = "close"
        return web.json_response(
            {"status": "SUCCESS", "error": False, "response": {"message": "Instance logged out"}}
        )

    async def _send(self, request: web.Request) -> web.Response:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.failures:
            status, message = self.failures.popleft()
            return _error(status, "Error", message)
        self.sent += 1
        body = request_body(self.requests[-1])
        remote = str(
            body.get("number") or body.get("remoteJid") or body.get("key", {}).get("remoteJid", "")
        )
        jid = remote if "@" in remote else f"{remote}@s.whatsapp.net"
        return web.json_response(
            {
                "key": {"remoteJid": jid, "fromMe": True, "id": f"3EB0FAKE{self.sent:08d}"},
                "pushName": "",
                "status": "PENDING",
                "message": {},
                "messageType": request.match_info.get("action", "protocolMessage"),
                "messageTimestamp": 1767614340,
                "instanceId": "0f4b1c0e-6a53-4f0e-9b7d-3c0a1f2e4d5c",
                "source": "unknown",
            },
            status=201,
        )

    async def _chat(self, request: web.Request) -> web.Response:
        body = request_body(self.requests[-1])
        action = request.match_info["action"]
        if action == "updateProfileName":
            self.profile_name = body["name"]
        elif action == "updateProfileStatus":
            self.status = body["status"]
        return web.json_response({"presence": body.get("presence"), "ok": True}, status=201)


def request_body(recorded: Recorded) -> dict[str, Any]:
    return recorded.body if isinstance(recorded.body, dict) else {}


def _error(status: int, error: str, message: Any) -> web.Response:
    return web.json_response(
        {"status": status, "error": error, "response": {"message": message}}, status=status
    )


@asynccontextmanager
async def running_fake(fake: FakeEvolution | None = None) -> AsyncIterator[FakeEvolution]:
    fake = fake or FakeEvolution()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp has no public accessor
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()
