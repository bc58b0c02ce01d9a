"""A fake Chatwoot (Application API and API-channel webhooks) on 127.0.0.1, recording every request.

It answers, under ``/api/v1/accounts/<account_id>``, the calls a WhatsApp bridge
makes (Evolution API's Chatwoot integration makes the same ones), in Chatwoot's
shapes: ids are increasing integers, ``created_at`` is unix seconds, creates
answer 200 (not 201), and every request needs the ``api_access_token`` header
(otherwise 401 ``{"error": "Invalid Access Token"}``); another account id is 404.

* ``GET|POST /inboxes``, ``GET /inboxes/<id>``: API-channel inboxes (``Channel::Api``);
* ``POST /contacts`` (``{"payload": {"contact", "contact_inbox"}}``; a phone number,
  identifier or email already taken is 422), ``GET /contacts/search?q=``,
  ``POST /contacts/filter``, ``GET|PUT|PATCH /contacts/<id>``,
  ``GET /contacts/<id>/conversations``;
* ``GET|POST /conversations`` (the list is ``{"data": {"meta", "payload"}}`` and
  shows ``open`` ones unless ``status`` says otherwise), ``GET /conversations/<id>``,
  ``POST /conversations/<id>/toggle_status``;
* ``GET|POST /conversations/<id>/messages``: JSON, or multipart with ``attachments[]``
  files; ``message_type`` is a string in requests and webhooks but an integer
  (0 incoming, 1 outgoing, 2 activity, 3 template) in API answers, as in Chatwoot;
* ``PATCH /conversations/<id>/messages/<id>``: a message's ``status`` (``sent``,
  ``delivered``, ``read``, ``failed`` with ``external_error``), as API-channel inboxes
  allow since Chatwoot's 2025 status API: a ``read`` message does not go back to
  ``delivered``, and a change sends ``message_updated``.

Attachments answer a ``data_url`` on this server, as Active Storage's:
``/rails/active_storage/blobs/redirect/...`` redirects (302) to
``/rails/active_storage/disk/...``, which serves the bytes; neither needs the token.
``redirect_downloads=False`` serves the bytes at the first URL.

Like Chatwoot, the fake posts webhooks to the inbox's ``webhook_url`` for every
message created (incoming, outgoing, private notes too, and those created through
the API itself: a bridge sees its own messages echoed back), for new conversations
and for status changes. Deliveries run one at a time in the background (Chatwoot
queues them); :meth:`FakeChatwoot.settle` waits for the queue to empty. A delivery
that fails (no 2xx, refused, timeout) is recorded, never raised, and marks a
``message_created``'s message ``failed`` with ``content_attributes.external_error``.
Webhooks go only to loopback addresses: any other URL is recorded as refused.

The agent side (what a human does in Chatwoot's web app) is :meth:`agent_reply`,
:meth:`resolve`, :meth:`reopen` and :meth:`set_status`; each returns once its
webhook was delivered (or failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import json
import mimetypes
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import BodyPartReader, web

CHATWOOT_TOKEN = "cw-user-access-token-0123456789"
CHATWOOT_ACCOUNT_ID = 1

NOT_FOUND = {"error": "Resource could not be found"}
STATUSES = ("open", "resolved", "pending", "snoozed")
MESSAGE_STATUSES = ("sent", "delivered", "read", "failed")
MESSAGE_TYPES = {"incoming": 0, "outgoing": 1, "activity": 2, "template": 3}
E164 = re.compile(r"\+[1-9]\d{1,14}\Z")  # Chatwoot's own regex: anchored at the end only
EMAIL = re.compile(r"\A[^@\s]+@[^@\s]+\Z")  # Devise's default
CONTACTS_PER_PAGE = 15
CONVERSATIONS_PER_PAGE = 25
MESSAGES_PER_PAGE = 20
WEBHOOK_TIMEOUT_S = 5.0
FILTER_KEYS = ("name", "email", "phone_number", "identifier")
FILTER_OPERATORS = (
    "equal_to",
    "not_equal_to",
    "contains",
    "does_not_contain",
    "starts_with",
    "is_present",
    "is_not_present",
)
_ACCOUNT_PATH = re.compile(r"/api/v1/accounts/([^/]+)(/.*)?")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


# --------------------------------------------------------------------------- records


@dataclass
class Upload:
    """A file part of a multipart request."""

    field: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)  # multipart / urlencoded text fields
    files: list[Upload] = field(default_factory=list)


@dataclass
class Delivery:
    """One webhook POST the fake made, or tried to make."""

    url: str
    payload: dict[str, Any]
    status: int | None = None  # the receiver's answer
    error: str | None = None  # "http_<status>", "refused: ...", or the exception
    done: bool = False

    @property
    def event(self) -> str:
        return str(self.payload.get("event"))

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Inbox:
    id: int
    channel_id: int
    name: str
    webhook_url: str
    inbox_identifier: str
    hmac_token: str
    created_at: float


@dataclass
class Contact:
    id: int
    name: str
    phone_number: str | None
    identifier: str | None
    email: str | None
    avatar_url: str | None
    custom_attributes: dict[str, Any]
    additional_attributes: dict[str, Any]
    created_at: float
    blocked: bool = False
    last_activity_at: float | None = None


@dataclass
class ContactInbox:
    id: int
    contact_id: int
    inbox_id: int
    source_id: str
    created_at: float
    pubsub_token: str


@dataclass
class Conversation:
    id: int  # Chatwoot's display_id, the id of every API path
    uuid: str
    inbox_id: int
    contact_id: int
    contact_inbox_id: int
    status: str
    created_at: float
    last_activity_at: float
    updated_at: float
    additional_attributes: dict[str, Any] = field(default_factory=dict)
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    snoozed_until: int | None = None
    agent_last_seen_at: float = 0.0
    first_reply_created_at: float | None = None
    waiting_since: float | None = None


@dataclass
class Attachment:
    id: int
    message_id: int
    file_type: str  # image, audio, video, file
    file_name: str
    content_type: str
    data: bytes
    key: str  # Active Storage's blob key, in the data_url


@dataclass
class Message:
    id: int
    conversation_id: int
    inbox_id: int
    content: str | None
    message_type: str  # incoming, outgoing, activity, template
    private: bool
    source_id: str | None
    content_type: str
    content_attributes: dict[str, Any]
    sender_type: str | None  # "User", "Contact" or None (activity)
    sender_id: int | None
    created_at: float
    updated_at: float
    status: str = "sent"
    echo_id: str | None = None
    attachments: list[Attachment] = field(default_factory=list)


class ApiError(Exception):
    """Answered as ``status`` with ``body``, like Chatwoot's rescue handlers do."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def _not_found() -> ApiError:
    return ApiError(404, dict(NOT_FOUND))


def _invalid(*errors: tuple[str, str]) -> ApiError:
    """Rails' RecordInvalid as Chatwoot renders it: ``{"message", "attributes"}``."""
    return ApiError(
        422,
        {
            "message": ", ".join(message for _, message in errors),
            "attributes": list(dict.fromkeys(attribute for attribute, _ in errors)),
        },
    )


@dataclass
class _Call:
    params: dict[str, Any]
    files: list[Upload]
    ids: tuple[int, ...]


_Handler = Callable[[_Call], web.StreamResponse]


# --------------------------------------------------------------------------- helpers


def _iso(ts: float) -> str:
    """A Rails time in JSON: ``2026-01-05T12:00:00.000Z``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _blank(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _dict(value: Any) -> dict[str, Any]:
    """A hash param; multipart sends it as JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            return {}
    return dict(value) if isinstance(value, dict) else {}


def _snapshot(data: Any) -> Any:
    """A deep copy through JSON: what was (or will be) sent, unaffected by later changes."""
    return json.loads(json.dumps(data))


def _file_type(content_type: str) -> str:
    if content_type.startswith("image/"):
        return "image"
    if content_type.startswith("video/"):
        return "video"
    if content_type.startswith("audio/"):
        return "audio"
    return "file"


def _loopback_url(url: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------- the fake


class FakeChatwoot:
    def __init__(
        self,
        *,
        token: str = CHATWOOT_TOKEN,
        account_id: int = CHATWOOT_ACCOUNT_ID,
        account_name: str = "Acme Support",
        agent_name: str = "Alice Agent",
        agent_email: str = "alice@acme.example",
        echo_api_messages: bool = True,
        redirect_downloads: bool = True,
        status_api: bool = True,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.account_id = account_id
        self.account_name = account_name
        self.agent_id = 1  # the user the token belongs to, and the agent who replies
        self.agent_name = agent_name
        self.agent_email = agent_email
        self.echo_api_messages = echo_api_messages
        self.redirect_downloads = redirect_downloads
        self.status_api = status_api  # False: a Chatwoot from before the message status API
        self.now = now
        self.url = ""
        self.requests: list[Recorded] = []
        self.deliveries: list[Delivery] = []
        self.failures: list[tuple[int, dict[str, Any]]] = []
        self._inboxes: dict[int, Inbox] = {}
        self._contacts: dict[int, Contact] = {}
        self._contact_inboxes: dict[int, ContactInbox] = {}
        self._conversations: dict[int, Conversation] = {}
        self._messages: dict[int, Message] = {}
        self._blobs: dict[str, Attachment] = {}
        self._ids: dict[str, itertools.count[int]] = {}
        self._queue: asyncio.Queue[tuple[Delivery, asyncio.Future[None] | None]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = [
            ("GET", re.compile(r"/inboxes"), self._list_inboxes),
            ("POST", re.compile(r"/inboxes"), self._create_inbox),
            ("GET", re.compile(r"/inboxes/(\d+)"), self._show_inbox),
            ("PATCH", re.compile(r"/inboxes/(\d+)"), self._update_inbox),
            ("POST", re.compile(r"/contacts"), self._create_contact),
            ("GET", re.compile(r"/contacts/search"), self._search_contacts),
            ("POST", re.compile(r"/contacts/filter"), self._filter_contacts),
            ("GET", re.compile(r"/contacts/(\d+)"), self._show_contact),
            ("PUT", re.compile(r"/contacts/(\d+)"), self._update_contact),
            ("PATCH", re.compile(r"/contacts/(\d+)"), self._update_contact),
            ("GET", re.compile(r"/contacts/(\d+)/conversations"), self._contact_conversations),
            ("GET", re.compile(r"/conversations"), self._list_conversations),
            ("POST", re.compile(r"/conversations"), self._create_conversation),
            ("GET", re.compile(r"/conversations/(\d+)"), self._show_conversation),
            ("POST", re.compile(r"/conversations/(\d+)/toggle_status"), self._toggle_status),
            ("GET", re.compile(r"/conversations/(\d+)/messages"), self._list_messages),
            ("POST", re.compile(r"/conversations/(\d+)/messages"), self._create_message),
            ("PATCH", re.compile(r"/conversations/(\d+)/messages/(\d+)"), self._update_message),
        ]

    # ------------------------------------------------------------------ test controls

    def fail_next(self, status: int, body: dict[str, Any] | None = None) -> None:
        """The next API request (not a download) gets this answer instead."""
        self.failures.append((status, body if body is not None else {"error": "failure"}))

    def add_inbox(self, name: str, webhook_url: str = "") -> dict[str, Any]:
        """An API-channel inbox, as if created in the web app; its JSON."""
        return self._inbox_json(self._new_inbox(name, webhook_url))

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every queued webhook was delivered (or failed)."""
        if self._queue is not None:
            await asyncio.wait_for(self._queue.join(), timeout)

    # ------------------------------------------------------------------ agent side

    async def agent_reply(
        self,
        conversation_id: int,
        content: str | None,
        *,
        attachments: Sequence[tuple[str, bytes, str]] | None = None,
        private: bool = False,
    ) -> dict[str, Any]:
        """An agent's reply (or private note) typed in the web app: ``attachments`` are
        ``(file name, bytes, content type)``. Returns the message as the API shows it,
        once its ``message_created`` webhook was delivered or failed."""
        conversation = self._conversation(conversation_id)
        files = [
            Upload("attachments[]", name, kind, data) for name, data, kind in attachments or ()
        ]
        message = self._add_message(
            conversation,
            content=content,
            message_type="outgoing",
            private=private,
            sender=("User", self.agent_id),
            files=files,
        )
        conversation.agent_last_seen_at = message.created_at  # the agent had it open
        await self._emit_message_created(message, wait=True)
        return dict(_snapshot(self._message_json(message)))

    async def resolve(self, conversation_id: int) -> dict[str, Any]:
        return await self.set_status(conversation_id, "resolved")

    async def reopen(self, conversation_id: int) -> dict[str, Any]:
        return await self.set_status(conversation_id, "open")

    async def set_status(self, conversation_id: int, status: str) -> dict[str, Any]:
        """An agent changes the status; ``conversation_status_changed`` is sent when it
        changed. Returns the conversation as the API shows it."""
        if status not in STATUSES:
            raise ValueError(f"not a conversation status: {status!r}")
        conversation = self._conversation(conversation_id)
        await self._change_status(conversation, status, wait=True)
        return dict(_snapshot(self._conversation_json(conversation)))

    # ------------------------------------------------------------------ inspection

    @property
    def inboxes(self) -> list[dict[str, Any]]:
        return list(_snapshot([self._inbox_json(i) for i in self._inboxes.values()]))

    @property
    def contacts(self) -> list[dict[str, Any]]:
        contacts = self._contacts.values()
        return list(_snapshot([self._contact_json(c, with_contact_inboxes=True) for c in contacts]))

    @property
    def conversations(self) -> list[dict[str, Any]]:
        return list(_snapshot([self._conversation_json(c) for c in self._conversations.values()]))

    def messages(self, conversation_id: int) -> list[dict[str, Any]]:
        """Every message of the conversation, private notes included, as the API shows them."""
        return list(_snapshot([self._message_json(m) for m in self._messages_of(conversation_id)]))

    def attachments(self, conversation_id: int) -> list[Attachment]:
        """The stored files (bytes, content type, file name) of the conversation's messages."""
        return [a for m in self._messages_of(conversation_id) for a in m.attachments]

    def webhooks(self, event: str | None = None) -> list[dict[str, Any]]:
        """Payloads of the webhooks sent (or tried), optionally of one event."""
        return [d.payload for d in self.deliveries if event is None or d.event == event]

    # ------------------------------------------------------------------ serving

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._session = aiohttp.ClientSession()
        self._worker = asyncio.create_task(self._deliver_forever())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        while self._queue is not None and not self._queue.empty():  # never sent
            delivery, future = self._queue.get_nowait()
            delivery.error, delivery.done = "not sent: the fake stopped", True
            if future is not None and not future.done():
                future.set_result(None)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = Recorded(request.method, request.path, dict(request.query), dict(request.headers))
        bad_body = await self._read_body(request, record)
        self.requests.append(record)
        if request.path.startswith("/rails/active_storage/"):
            return self._download(request)
        match = _ACCOUNT_PATH.fullmatch(request.path)
        if request.path.startswith("/api/") and request.headers.get("api_access_token") != (
            self.token
        ):
            return web.json_response({"error": "Invalid Access Token"}, status=401)
        if match is None:
            return web.Response(status=404, text="Not Found")
        if _int(match.group(1)) != self.account_id:
            return web.json_response(NOT_FOUND, status=404)
        if bad_body:
            return web.json_response({"error": "Invalid JSON in the request body"}, status=400)
        if self.failures:
            status, body = self.failures.pop(0)
            return web.json_response(body, status=status)
        tail = match.group(2) or "/"
        if tail.endswith(".json"):  # Rails formats
            tail = tail[: -len(".json")]
        params: dict[str, Any] = {**record.query, **record.form}
        if isinstance(record.json, dict):
            params.update(record.json)
        for method, pattern, handler in self._routes:
            found = pattern.fullmatch(tail)
            if found is not None and method == request.method:
                call = _Call(params, record.files, tuple(int(g) for g in found.groups()))
                try:
                    return handler(call)
                except ApiError as exc:
                    return web.json_response(exc.body, status=exc.status)
        return web.Response(status=404, text="Not Found")

    @staticmethod
    async def _read_body(request: web.Request, record: Recorded) -> bool:
        """Fill ``record`` from the body; whether the body was unreadable."""
        if request.content_type == "application/json":
            raw = await request.read()
            if not raw.strip():
                return False
            try:
                record.json = json.loads(raw)
            except ValueError:
                return True
        elif request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                name = part.name or ""
                if part.filename is not None:
                    record.files.append(
                        Upload(
                            name,
                            part.filename,
                            part.headers.get(aiohttp.hdrs.CONTENT_TYPE),
                            await part.read(),
                        )
                    )
                else:
                    record.form[name] = await part.text()
        elif request.content_type == "application/x-www-form-urlencoded":
            posted = await request.post()
            record.form = {k: str(v) for k, v in posted.items()}
        return False

    def _download(self, request: web.Request) -> web.StreamResponse:
        parts = request.path.split("/")  # "", rails, active_storage, blobs|disk, ...
        if len(parts) >= 6 and parts[3] == "blobs" and parts[4] == "redirect":
            key, rest = parts[5], parts[6:]
            if key in self._blobs and self.redirect_downloads:
                location = f"{self.url}/rails/active_storage/disk/{key}/{'/'.join(rest)}"
                return web.Response(status=302, headers={"Location": location})
        elif len(parts) >= 5 and parts[3] == "disk":
            key = parts[4]
        else:
            return web.Response(status=404, text="Not Found")
        blob = self._blobs.get(key)
        if blob is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(
            body=blob.data,
            headers={
                "Content-Type": blob.content_type,
                "Content-Disposition": f"inline; filename*=UTF-8''{quote(blob.file_name)}",
            },
        )

    # ------------------------------------------------------------------ inboxes

    def _list_inboxes(self, call: _Call) -> web.Response:
        return web.json_response({"payload": self.inboxes})

    def _show_inbox(self, call: _Call) -> web.Response:
        inbox = self._inboxes.get(call.ids[0])
        if inbox is None:
            raise _not_found()
        return web.json_response(self._inbox_json(inbox))

    def _create_inbox(self, call: _Call) -> web.Response:
        channel = call.params.get("channel")
        channel = channel if isinstance(channel, dict) else {}
        if channel.get("type") != "api":
            raise ApiError(422, {"error": "Invalid channel type"})
        name = _blank(call.params.get("name"))
        if name is None:
            raise _invalid(("name", "Name can't be blank"))
        inbox = self._new_inbox(name, str(channel.get("webhook_url") or ""))
        return web.json_response(self._inbox_json(inbox))

    def _update_inbox(self, call: _Call) -> web.Response:
        """Chatwoot's "Update Inbox": ``name``, and ``channel.webhook_url`` of an API inbox."""
        inbox = self._inboxes.get(call.ids[0])
        if inbox is None:
            raise _not_found()
        name = _blank(call.params.get("name"))
        if name is not None:
            inbox.name = name
        channel = call.params.get("channel")
        if isinstance(channel, dict) and "webhook_url" in channel:
            inbox.webhook_url = str(channel.get("webhook_url") or "")
        return web.json_response(self._inbox_json(inbox))

    def _new_inbox(self, name: str, webhook_url: str) -> Inbox:
        inbox = Inbox(
            id=self._next("inbox"),
            channel_id=self._next("channel"),
            name=name,
            webhook_url=webhook_url,
            inbox_identifier=secrets.token_urlsafe(18),
            hmac_token=secrets.token_urlsafe(18),
            created_at=self.now(),
        )
        self._inboxes[inbox.id] = inbox
        return inbox

    # ------------------------------------------------------------------ contacts

    def _create_contact(self, call: _Call) -> web.Response:
        p = call.params
        inbox = None
        if _blank(p.get("inbox_id")) is not None:
            inbox = self._inbox(p["inbox_id"])
        contact = Contact(
            id=0,
            name=str(p.get("name") or ""),
            phone_number=_blank(p.get("phone_number")),
            identifier=_blank(p.get("identifier")),
            email=(_blank(p.get("email")) or "").lower() or None,
            avatar_url=_blank(p.get("avatar_url")),  # never fetched
            custom_attributes=_dict(p.get("custom_attributes")),
            additional_attributes=_dict(p.get("additional_attributes")),
            blocked=_truthy(p.get("blocked")),
            created_at=self.now(),
        )
        self._validate_contact(contact)
        contact.id = self._next("contact")
        self._contacts[contact.id] = contact
        contact_inbox = None
        if inbox is not None:
            contact_inbox = self._contact_inbox(contact, inbox, _blank(p.get("source_id")))
        return web.json_response(
            {
                "payload": {
                    "contact": self._contact_json(contact, with_contact_inboxes=True),
                    "contact_inbox": {
                        "inbox": self._inbox_json(inbox) if inbox else None,
                        "source_id": contact_inbox.source_id if contact_inbox else None,
                    },
                }
            }
        )

    def _show_contact(self, call: _Call) -> web.Response:
        contact = self._contact(call.ids[0])
        return web.json_response(
            {"payload": self._contact_json(contact, with_contact_inboxes=True)}
        )

    def _update_contact(self, call: _Call) -> web.Response:
        contact = self._contact(call.ids[0])
        p = call.params
        changed = Contact(**vars(contact))
        changed.custom_attributes = dict(contact.custom_attributes)
        changed.additional_attributes = dict(contact.additional_attributes)
        if "name" in p:
            changed.name = str(p["name"] or "")
        if "phone_number" in p:
            changed.phone_number = _blank(p["phone_number"])
        if "identifier" in p:
            changed.identifier = _blank(p["identifier"])
        if "email" in p:
            changed.email = (_blank(p["email"]) or "").lower() or None
        if "avatar_url" in p:
            changed.avatar_url = _blank(p["avatar_url"])
        if "blocked" in p:
            changed.blocked = _truthy(p["blocked"])
        changed.custom_attributes.update(_dict(p.get("custom_attributes")))  # merged
        changed.additional_attributes.update(_dict(p.get("additional_attributes")))
        self._validate_contact(changed)
        self._contacts[contact.id] = changed
        return web.json_response({"payload": self._contact_json(changed)})

    def _validate_contact(self, contact: Contact) -> None:
        errors: list[tuple[str, str]] = []
        others = [c for c in self._contacts.values() if c.id != contact.id]
        if contact.email is not None:
            if not EMAIL.search(contact.email):
                errors.append(("email", "Email Invalid email"))
            elif any(c.email == contact.email for c in others):
                errors.append(("email", "Email has already been taken"))
        if contact.phone_number is not None:
            if not E164.search(contact.phone_number):
                errors.append(("phone_number", "Phone number should be in e164 format"))
            elif any(c.phone_number == contact.phone_number for c in others):
                errors.append(("phone_number", "Phone number has already been taken"))
        if contact.identifier is not None and any(
            c.identifier == contact.identifier for c in others
        ):
            errors.append(("identifier", "Identifier has already been taken"))
        if errors:
            raise _invalid(*errors)

    def _search_contacts(self, call: _Call) -> web.Response:
        q = str(call.params.get("q") or "").strip()
        if not q:
            raise ApiError(422, {"error": "Specify search string with parameter q"})
        low = q.lower()

        def hit(c: Contact) -> bool:
            company = str(c.additional_attributes.get("company_name") or "")
            insensitive = (c.name, c.email or "", c.phone_number or "", company)
            return any(low in v.lower() for v in insensitive) or q in (c.identifier or "")

        found = [c for c in self._contacts.values() if self._resolved(c) and hit(c)]
        return self._contact_page(found, call.params)

    def _filter_contacts(self, call: _Call) -> web.Response:
        conditions = call.params.get("payload")
        if not isinstance(conditions, list) or not conditions:
            raise ApiError(422, {"error": "Invalid filter payload"})
        groups: list[list[dict[str, Any]]] = [[]]
        for condition in conditions:  # AND binds tighter than OR, as in the SQL Chatwoot builds
            if not isinstance(condition, dict):
                raise ApiError(422, {"error": "Invalid filter payload"})
            key, operator = condition.get("attribute_key"), condition.get("filter_operator")
            if key not in FILTER_KEYS:
                raise ApiError(422, {"error": f"Invalid attribute key - [{key}]"})
            if operator not in FILTER_OPERATORS:
                raise ApiError(422, {"error": f"Invalid operator. - [{operator}]"})
            groups[-1].append(condition)
            if str(condition.get("query_operator") or "").upper() == "OR":
                groups.append([])
        groups = [g for g in groups if g]
        found = [
            c
            for c in self._contacts.values()
            if any(all(self._condition(c, cond) for cond in group) for group in groups)
        ]
        return self._contact_page(found, call.params)

    @staticmethod
    def _condition(contact: Contact, condition: dict[str, Any]) -> bool:
        key, operator = str(condition["attribute_key"]), str(condition["filter_operator"])
        raw = condition.get("values")
        values = [str(v) for v in (raw if isinstance(raw, list) else [raw]) if v is not None]
        column: str | None = getattr(contact, key)
        if operator == "is_present":
            return bool(column)
        if operator == "is_not_present":
            return not column
        if column is None or not values:
            return False  # SQL: a comparison with NULL is not true
        if key == "phone_number":  # Chatwoot prefixes the value with "+" itself
            wanted = ["+" + v.replace("+", "") for v in values]
        else:
            column, wanted = column.lower(), [v.lower() for v in values]
        if operator == "equal_to":
            return column in wanted
        if operator == "not_equal_to":
            return column not in wanted
        if operator == "starts_with":
            return column.startswith(wanted[0])
        needle = wanted[0].lstrip("+") if key == "phone_number" else wanted[0]  # phone: digits
        inside = needle in column
        return inside if operator == "contains" else not inside

    def _contact_page(self, found: list[Contact], params: dict[str, Any]) -> web.Response:
        page = max(_int(params.get("page")) or 1, 1)
        start = (page - 1) * CONTACTS_PER_PAGE
        with_inboxes = str(params.get("include_contact_inboxes", "true")).lower() != "false"
        return web.json_response(
            {
                "meta": {"count": len(found), "current_page": page},
                "payload": [
                    self._contact_json(c, with_contact_inboxes=with_inboxes)
                    for c in found[start : start + CONTACTS_PER_PAGE]
                ],
            }
        )

    def _contact_conversations(self, call: _Call) -> web.Response:
        contact = self._contact(call.ids[0])
        mine = [c for c in self._conversations.values() if c.contact_id == contact.id]
        mine.sort(key=lambda c: (c.last_activity_at, c.id), reverse=True)
        return web.json_response({"payload": [self._conversation_json(c) for c in mine[:20]]})

    def _contact_inbox(self, contact: Contact, inbox: Inbox, source_id: str | None) -> ContactInbox:
        """ContactInboxBuilder: an API inbox's source_id is a UUID unless given."""
        for existing in self._contact_inboxes.values():
            if (existing.contact_id, existing.inbox_id) == (contact.id, inbox.id) and (
                source_id is None or existing.source_id == source_id
            ):
                return existing
        contact_inbox = ContactInbox(
            id=self._next("contact_inbox"),
            contact_id=contact.id,
            inbox_id=inbox.id,
            source_id=source_id or str(uuid.uuid4()),
            created_at=self.now(),
            pubsub_token=secrets.token_urlsafe(18),
        )
        self._contact_inboxes[contact_inbox.id] = contact_inbox
        return contact_inbox

    # ------------------------------------------------------------------ conversations

    def _list_conversations(self, call: _Call) -> web.Response:
        p = call.params
        status = str(p.get("status") or "open")
        if status != "all" and status not in STATUSES:
            raise ApiError(422, {"error": f"'{status}' is not a valid status"})
        inbox_id = _int(p.get("inbox_id"))
        found = [
            c
            for c in self._conversations.values()
            if (status == "all" or c.status == status)
            and (inbox_id is None or c.inbox_id == inbox_id)
        ]
        found.sort(key=lambda c: (c.last_activity_at, c.id), reverse=True)
        page = max(_int(p.get("page")) or 1, 1)
        start = (page - 1) * CONVERSATIONS_PER_PAGE
        return web.json_response(
            {
                "data": {
                    "meta": {
                        "mine_count": 0,
                        "assigned_count": 0,
                        "unassigned_count": len(found),
                        "all_count": len(found),
                    },
                    "payload": [
                        self._conversation_json(c)
                        for c in found[start : start + CONVERSATIONS_PER_PAGE]
                    ],
                }
            }
        )

    def _create_conversation(self, call: _Call) -> web.Response:
        p = call.params
        inbox = self._inbox(p.get("inbox_id"))
        status = str(p.get("status") or "open")
        if status not in STATUSES:
            raise ApiError(422, {"error": f"'{status}' is not a valid status"})
        source_id = _blank(p.get("source_id"))
        contact_inbox = None
        if source_id is not None:
            contact_inbox = next(
                (
                    ci
                    for ci in self._contact_inboxes.values()
                    if ci.inbox_id == inbox.id and ci.source_id == source_id
                ),
                None,
            )
        if contact_inbox is None:
            contact = self._contact(p.get("contact_id"))
            contact_inbox = self._contact_inbox(contact, inbox, source_id)
        now = self.now()
        conversation = Conversation(
            id=self._next("conversation"),
            uuid=str(uuid.uuid4()),
            inbox_id=inbox.id,
            contact_id=contact_inbox.contact_id,
            contact_inbox_id=contact_inbox.id,
            status=status,
            created_at=now,
            last_activity_at=now,
            updated_at=now,
            additional_attributes=_dict(p.get("additional_attributes")),
            custom_attributes=_dict(p.get("custom_attributes")),
        )
        self._conversations[conversation.id] = conversation
        self._emit(
            inbox, {**self._conversation_push(conversation), "event": "conversation_created"}
        )
        return web.json_response(self._conversation_json(conversation))

    def _show_conversation(self, call: _Call) -> web.Response:
        return web.json_response(self._conversation_json(self._conversation(call.ids[0])))

    def _toggle_status(self, call: _Call) -> web.Response:
        conversation = self._conversation(call.ids[0])
        wanted = call.params.get("status")
        if wanted is None:  # no status: open <-> resolved
            status = "resolved" if conversation.status == "open" else "open"
        elif wanted in STATUSES:
            status = str(wanted)
        else:
            raise ApiError(422, {"error": f"'{wanted}' is not a valid status"})
        if status == "snoozed":
            conversation.snoozed_until = _int(call.params.get("snoozed_until"))
        self._change_status_now(conversation, status)
        return web.json_response(
            {
                "meta": {},
                "payload": {
                    "success": True,
                    "conversation_id": conversation.id,
                    "current_status": conversation.status,
                    "snoozed_until": conversation.snoozed_until,
                },
            }
        )

    async def _change_status(self, conversation: Conversation, status: str, *, wait: bool) -> None:
        future = self._change_status_now(conversation, status, want_future=wait)
        if future is not None:
            await future

    def _change_status_now(
        self, conversation: Conversation, status: str, *, want_future: bool = False
    ) -> asyncio.Future[None] | None:
        previous = conversation.status
        if previous == status:
            return None
        conversation.status = status
        if status != "snoozed":
            conversation.snoozed_until = None
        conversation.updated_at = self.now()
        payload = {
            **self._conversation_push(conversation),
            "event": "conversation_status_changed",
            "changed_attributes": [
                {"status": {"previous_value": previous, "current_value": status}}
            ],
        }
        return self._emit(self._inboxes[conversation.inbox_id], payload, want_future=want_future)

    # ------------------------------------------------------------------ messages

    def _list_messages(self, call: _Call) -> web.Response:
        conversation = self._conversation(call.ids[0])
        found = self._messages_of(conversation.id)
        before, after = _int(call.params.get("before")), _int(call.params.get("after"))
        if after is not None:
            found = [m for m in found if m.id > after][:100]
        else:
            if before is not None:
                found = [m for m in found if m.id < before]
            found = found[-MESSAGES_PER_PAGE:]
        contact = self._contacts[conversation.contact_id]
        return web.json_response(
            {
                "meta": {
                    "labels": [],
                    "additional_attributes": conversation.additional_attributes,
                    "contact": self._contact_push(contact),
                    "assignee": None,
                    "agent_last_seen_at": _iso(conversation.agent_last_seen_at),
                    "assignee_last_seen_at": None,
                },
                "payload": [self._message_json(m) for m in found],
            }
        )

    def _create_message(self, call: _Call) -> web.Response:
        conversation = self._conversation(call.ids[0])
        p = call.params
        message_type = str(p.get("message_type") or "outgoing")
        if message_type not in MESSAGE_TYPES:
            raise ApiError(422, {"error": f"'{message_type}' is not a valid message_type"})
        files = [f for f in call.files if f.field in ("attachments[]", "attachments")]
        sender: tuple[str, int] | None = None
        if message_type == "incoming":
            sender = ("Contact", conversation.contact_id)
        elif message_type != "activity":
            sender = ("User", self.agent_id)
        content = p.get("content")
        message = self._add_message(
            conversation,
            content=None if content is None else str(content),
            message_type=message_type,
            private=_truthy(p.get("private")) and message_type == "outgoing",
            sender=sender,
            files=files,
            source_id=_blank(p.get("source_id")),
            content_attributes=_dict(p.get("content_attributes")),
            content_type=str(p.get("content_type") or "text"),
            echo_id=_blank(p.get("echo_id")),
        )
        if message_type == "incoming" and conversation.status in ("resolved", "snoozed"):
            self._change_status_now(conversation, "open")  # a contact's message reopens it
        if self.echo_api_messages:
            self._emit_message_created_now(message)
        return web.json_response(self._message_json(message))

    def _update_message(self, call: _Call) -> web.Response:
        if not self.status_api:  # no such route: Rails' 404
            raise ApiError(404, {"error": "Not Found"})
        conversation = self._conversation(call.ids[0])
        message = self._messages.get(call.ids[1])
        if message is None or message.conversation_id != conversation.id:
            raise _not_found()
        status = call.params.get("status")
        if status not in MESSAGE_STATUSES:
            raise ApiError(422, {"error": f"'{status}' is not a valid status"})
        if message.status != status and not (message.status == "read" and status == "delivered"):
            message.status = str(status)
            if status == "failed":
                message.content_attributes["external_error"] = call.params.get("external_error")
            message.updated_at = self.now()
            payload = {**self._message_webhook(message), "event": "message_updated"}
            self._emit(self._inboxes[message.inbox_id], payload)
        return web.json_response(self._message_json(message))

    def _add_message(
        self,
        conversation: Conversation,
        *,
        content: str | None,
        message_type: str,
        private: bool,
        sender: tuple[str, int] | None,
        files: Sequence[Upload] = (),
        source_id: str | None = None,
        content_attributes: dict[str, Any] | None = None,
        content_type: str = "text",
        echo_id: str | None = None,
    ) -> Message:
        now = self.now()
        message = Message(
            id=self._next("message"),
            conversation_id=conversation.id,
            inbox_id=conversation.inbox_id,
            content=content,
            message_type=message_type,
            private=private,
            source_id=source_id,
            content_type=content_type,
            content_attributes=content_attributes or {},
            sender_type=sender[0] if sender else None,
            sender_id=sender[1] if sender else None,
            created_at=now,
            updated_at=now,
            echo_id=echo_id,
        )
        for upload in files:
            content_kind = (upload.content_type or "").split(";")[0].strip()
            if not content_kind or content_kind == "application/octet-stream":
                content_kind = (
                    mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
                )
            attachment = Attachment(
                id=self._next("attachment"),
                message_id=message.id,
                file_type=_file_type(content_kind),
                file_name=upload.filename,
                content_type=content_kind,
                data=upload.data,
                key=secrets.token_hex(16),
            )
            message.attachments.append(attachment)
            self._blobs[attachment.key] = attachment
        self._messages[message.id] = message
        if message_type != "activity":
            conversation.last_activity_at = now
        conversation.updated_at = now
        if message_type == "incoming":
            self._contacts[conversation.contact_id].last_activity_at = now
            if conversation.waiting_since is None:
                conversation.waiting_since = now
        elif message_type == "outgoing" and sender and sender[0] == "User" and not private:
            if conversation.first_reply_created_at is None:
                conversation.first_reply_created_at = now
            conversation.waiting_since = None
        return message

    async def _emit_message_created(self, message: Message, *, wait: bool) -> None:
        future = self._emit_message_created_now(message, want_future=wait)
        if future is not None:
            await future

    def _emit_message_created_now(
        self, message: Message, *, want_future: bool = False
    ) -> asyncio.Future[None] | None:
        inbox = self._inboxes[message.inbox_id]
        return self._emit(inbox, self._message_webhook(message), want_future=want_future)

    # ------------------------------------------------------------------ webhooks

    def _emit(
        self, inbox: Inbox, payload: dict[str, Any], *, want_future: bool = False
    ) -> asyncio.Future[None] | None:
        """Queue a webhook to the inbox's URL (none without one, as in Chatwoot)."""
        if not inbox.webhook_url or self._queue is None:
            return None
        delivery = Delivery(inbox.webhook_url, _snapshot(payload))
        self.deliveries.append(delivery)
        future: asyncio.Future[None] | None = None
        if want_future:
            future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((delivery, future))
        return future

    async def _deliver_forever(self) -> None:
        assert self._queue is not None
        while True:
            delivery, future = await self._queue.get()
            try:
                await self._deliver(delivery)
            finally:
                delivery.done = True
                if future is not None and not future.done():
                    future.set_result(None)
                self._queue.task_done()

    async def _deliver(self, delivery: Delivery) -> None:
        if not _loopback_url(delivery.url):
            delivery.error = "refused: the fake posts webhooks to loopback addresses only"
        elif self._session is None:
            delivery.error = "refused: the fake is not running"
        else:
            try:
                async with self._session.post(
                    delivery.url,
                    data=json.dumps(delivery.payload).encode(),
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S),
                ) as response:
                    delivery.status = response.status
                    await response.read()
                if not delivery.ok:
                    delivery.error = f"http_{delivery.status}"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # recorded, never raised
                delivery.error = f"{type(exc).__name__}: {exc}"
        if delivery.error is not None and delivery.event == "message_created":
            message = self._messages.get(_int(delivery.payload.get("id")) or 0)
            if message is not None:  # Webhooks::Trigger marks an API inbox's message failed
                message.status = "failed"
                message.content_attributes["external_error"] = delivery.error

    # ------------------------------------------------------------------ lookups

    def _next(self, kind: str) -> int:
        return next(self._ids.setdefault(kind, itertools.count(1)))

    def _inbox(self, inbox_id: Any) -> Inbox:
        inbox = self._inboxes.get(_int(inbox_id) or 0)
        if inbox is None:
            raise _not_found()
        return inbox

    def _contact(self, contact_id: Any) -> Contact:
        contact = self._contacts.get(_int(contact_id) or 0)
        if contact is None:
            raise _not_found()
        return contact

    def _conversation(self, conversation_id: Any) -> Conversation:
        conversation = self._conversations.get(_int(conversation_id) or 0)
        if conversation is None:
            raise _not_found()
        return conversation

    def _messages_of(self, conversation_id: int) -> list[Message]:
        return [m for m in self._messages.values() if m.conversation_id == conversation_id]

    @staticmethod
    def _resolved(contact: Contact) -> bool:
        """Chatwoot lists and searches only contacts with an email, phone or identifier."""
        return bool(contact.email or contact.phone_number or contact.identifier)

    def _last_chat(self, conversation: Conversation) -> Message | None:
        chat = [
            m
            for m in self._messages_of(conversation.id)
            if m.message_type != "activity" and not m.private
        ]
        return chat[-1] if chat else None

    def _unread_incoming(self, conversation: Conversation) -> int:
        return sum(
            1
            for m in self._messages_of(conversation.id)
            if m.message_type == "incoming" and m.created_at > conversation.agent_last_seen_at
        )

    # ------------------------------------------------------------------ shapes

    def _account_webhook(self) -> dict[str, Any]:
        return {"id": self.account_id, "name": self.account_name}

    def _inbox_json(self, inbox: Inbox) -> dict[str, Any]:
        return {
            "id": inbox.id,
            "avatar_url": "",
            "channel_id": inbox.channel_id,
            "name": inbox.name,
            "channel_type": "Channel::Api",
            "greeting_enabled": False,
            "greeting_message": None,
            "working_hours_enabled": False,
            "enable_email_collect": True,
            "csat_survey_enabled": False,
            "enable_auto_assignment": True,
            "out_of_office_message": None,
            "timezone": "UTC",
            "allow_messages_after_resolved": True,
            "lock_to_single_conversation": False,
            "sender_name_type": "friendly",
            "business_name": None,
            "webhook_url": inbox.webhook_url,
            "inbox_identifier": inbox.inbox_identifier,
            "hmac_token": inbox.hmac_token,
            "hmac_mandatory": False,
            "additional_attributes": {},
        }

    def _contact_json(
        self, contact: Contact, *, with_contact_inboxes: bool = False
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "additional_attributes": contact.additional_attributes,
            "availability_status": "offline",
            "email": contact.email,
            "id": contact.id,
            "name": contact.name,
            "phone_number": contact.phone_number,
            "blocked": contact.blocked,
            "identifier": contact.identifier,
            "thumbnail": contact.avatar_url or "",
            "custom_attributes": contact.custom_attributes,
            "created_at": int(contact.created_at),
        }
        if contact.last_activity_at is not None:
            data["last_activity_at"] = int(contact.last_activity_at)
        if with_contact_inboxes:
            data["contact_inboxes"] = [
                {"source_id": ci.source_id, "inbox": self._inbox_json(self._inboxes[ci.inbox_id])}
                for ci in self._contact_inboxes.values()
                if ci.contact_id == contact.id
            ]
        return data

    @staticmethod
    def _contact_push(contact: Contact) -> dict[str, Any]:
        return {
            "additional_attributes": contact.additional_attributes,
            "custom_attributes": contact.custom_attributes,
            "email": contact.email,
            "id": contact.id,
            "identifier": contact.identifier,
            "name": contact.name,
            "phone_number": contact.phone_number,
            "thumbnail": contact.avatar_url or "",
            "blocked": contact.blocked,
            "type": "contact",
        }

    def _contact_webhook(self, contact: Contact) -> dict[str, Any]:
        return {
            "account": self._account_webhook(),
            "additional_attributes": contact.additional_attributes,
            "avatar": contact.avatar_url or "",
            "custom_attributes": contact.custom_attributes,
            "email": contact.email,
            "id": contact.id,
            "identifier": contact.identifier,
            "name": contact.name,
            "phone_number": contact.phone_number,
            "thumbnail": contact.avatar_url or "",
            "blocked": contact.blocked,
            "type": "contact",
        }

    def _user_push(self) -> dict[str, Any]:
        return {
            "id": self.agent_id,
            "name": self.agent_name,
            "available_name": self.agent_name,
            "avatar_url": "",
            "type": "user",
            "availability_status": "online",
            "thumbnail": "",
        }

    def _sender_push(self, message: Message) -> dict[str, Any] | None:
        if message.sender_type == "Contact" and message.sender_id in self._contacts:
            return self._contact_push(self._contacts[message.sender_id])
        if message.sender_type == "User":
            return self._user_push()
        return None

    def _sender_webhook(self, message: Message) -> dict[str, Any] | None:
        if message.sender_type == "Contact" and message.sender_id in self._contacts:
            return self._contact_webhook(self._contacts[message.sender_id])
        if message.sender_type == "User":
            return {
                "id": self.agent_id,
                "name": self.agent_name,
                "email": self.agent_email,
                "type": "user",
            }
        return None

    def _attachment_json(self, attachment: Attachment) -> dict[str, Any]:
        data_url = (
            f"{self.url}/rails/active_storage/blobs/redirect/{attachment.key}/"
            f"{quote(attachment.file_name)}"
        )
        return {
            "id": attachment.id,
            "message_id": attachment.message_id,
            "file_type": attachment.file_type,
            "account_id": self.account_id,
            "extension": None,
            "data_url": data_url,
            "thumb_url": data_url if attachment.file_type == "image" else "",
            "file_size": len(attachment.data),
            "width": None,
            "height": None,
        }

    def _message_json(self, message: Message) -> dict[str, Any]:
        """``api/v1/conversations/partials/_message``: message_type is an integer."""
        data: dict[str, Any] = {
            "id": message.id,
            "content": message.content,
            "inbox_id": message.inbox_id,
            "conversation_id": message.conversation_id,
            "message_type": MESSAGE_TYPES[message.message_type],
            "content_type": message.content_type,
            "status": message.status,
            "content_attributes": message.content_attributes,
            "created_at": int(message.created_at),
            "private": message.private,
            "source_id": message.source_id,
        }
        if message.echo_id is not None:
            data["echo_id"] = message.echo_id
        sender = self._sender_push(message)
        if sender is not None:
            data["sender"] = sender
        if message.attachments:
            data["attachments"] = [self._attachment_json(a) for a in message.attachments]
        return data

    def _message_push(self, message: Message) -> dict[str, Any]:
        """``Message#push_event_data``: the row's attributes, message_type an integer."""
        conversation = self._conversations[message.conversation_id]
        contact_inbox = self._contact_inboxes[conversation.contact_inbox_id]
        data: dict[str, Any] = {
            "id": message.id,
            "content": message.content,
            "account_id": self.account_id,
            "inbox_id": message.inbox_id,
            "conversation_id": message.conversation_id,
            "message_type": MESSAGE_TYPES[message.message_type],
            "created_at": int(message.created_at),
            "updated_at": _iso(message.updated_at),
            "private": message.private,
            "status": message.status,
            "source_id": message.source_id,
            "content_type": message.content_type,
            "content_attributes": message.content_attributes,
            "sender_type": message.sender_type,
            "sender_id": message.sender_id,
            "external_source_ids": {},
            "additional_attributes": {},
            "processed_message_content": message.content,
            "sentiment": {},
            "conversation": {
                "assignee_id": None,
                "unread_count": self._unread_incoming(conversation),
                "last_activity_at": int(conversation.last_activity_at),
                "contact_inbox": {"source_id": contact_inbox.source_id},
            },
        }
        if message.echo_id is not None:
            data["echo_id"] = message.echo_id
        if message.attachments:
            data["attachments"] = [self._attachment_json(a) for a in message.attachments]
        sender = self._sender_push(message)
        if sender is not None:
            data["sender"] = sender
        return data

    def _conversation_json(self, conversation: Conversation) -> dict[str, Any]:
        """``api/v1/conversations/partials/_conversation``."""
        contact = self._contacts[conversation.contact_id]
        non_activity = [
            m for m in self._messages_of(conversation.id) if m.message_type != "activity"
        ]
        unread = self._unread_incoming(conversation)
        if unread:
            recent = [
                m
                for m in non_activity
                if not m.private and m.created_at > conversation.agent_last_seen_at
            ][-10:]
            messages = [self._message_push(m) for m in recent]
        else:
            last = self._last_chat(conversation)
            messages = [self._message_push(last)] if last else []
        return {
            "meta": {
                "sender": self._contact_json(contact),
                "channel": "Channel::Api",
                "assignee": None,
                "hmac_verified": False,
            },
            "id": conversation.id,
            "messages": messages,
            "account_id": self.account_id,
            "uuid": conversation.uuid,
            "additional_attributes": conversation.additional_attributes,
            "agent_last_seen_at": int(conversation.agent_last_seen_at),
            "assignee_last_seen_at": 0,
            "can_reply": True,
            "contact_last_seen_at": 0,
            "custom_attributes": conversation.custom_attributes,
            "inbox_id": conversation.inbox_id,
            "labels": [],
            "muted": False,
            "snoozed_until": conversation.snoozed_until,
            "status": conversation.status,
            "created_at": int(conversation.created_at),
            "updated_at": conversation.updated_at,
            "timestamp": int(conversation.last_activity_at),
            "first_reply_created_at": int(conversation.first_reply_created_at or 0),
            "unread_count": unread,
            "last_non_activity_message": (
                self._message_push(non_activity[-1]) if non_activity else None
            ),
            "last_activity_at": int(conversation.last_activity_at),
            "priority": None,
            "waiting_since": int(conversation.waiting_since or 0),
            "sla_policy_id": None,
        }

    def _conversation_push(self, conversation: Conversation) -> dict[str, Any]:
        """``Conversation#webhook_data`` (the event data presenter's push_data)."""
        contact = self._contacts[conversation.contact_id]
        contact_inbox = self._contact_inboxes[conversation.contact_inbox_id]
        last = self._last_chat(conversation)
        first_reply = conversation.first_reply_created_at
        return {
            "additional_attributes": conversation.additional_attributes,
            "can_reply": True,
            "channel": "Channel::Api",
            "contact_inbox": {
                "id": contact_inbox.id,
                "contact_id": contact_inbox.contact_id,
                "inbox_id": contact_inbox.inbox_id,
                "source_id": contact_inbox.source_id,
                "created_at": _iso(contact_inbox.created_at),
                "updated_at": _iso(contact_inbox.created_at),
                "hmac_verified": False,
                "pubsub_token": contact_inbox.pubsub_token,
            },
            "id": conversation.id,
            "inbox_id": conversation.inbox_id,
            "messages": [self._message_push(last)] if last else [],
            "labels": [],
            "meta": {
                "sender": self._contact_push(contact),
                "assignee": None,
                "team": None,
                "hmac_verified": False,
            },
            "status": conversation.status,
            "custom_attributes": conversation.custom_attributes,
            "snoozed_until": conversation.snoozed_until,
            "unread_count": self._unread_incoming(conversation),
            "first_reply_created_at": _iso(first_reply) if first_reply else None,
            "priority": None,
            "waiting_since": int(conversation.waiting_since or 0),
            "agent_last_seen_at": int(conversation.agent_last_seen_at),
            "contact_last_seen_at": 0,
            "last_activity_at": int(conversation.last_activity_at),
            "timestamp": int(conversation.last_activity_at),
            "created_at": int(conversation.created_at),
            "updated_at": conversation.updated_at,
        }

    def _message_webhook(self, message: Message) -> dict[str, Any]:
        """``Message#webhook_data`` plus the event: message_type a string here, and
        created_at a Rails time (ISO 8601), not unix seconds."""
        conversation = self._conversations[message.conversation_id]
        inbox = self._inboxes[message.inbox_id]
        data: dict[str, Any] = {
            "account": self._account_webhook(),
            "additional_attributes": {},
            "content_attributes": message.content_attributes,
            "content_type": message.content_type,
            "content": message.content,
            "conversation": self._conversation_push(conversation),
            "created_at": _iso(message.created_at),
            "id": message.id,
            "inbox": {"id": inbox.id, "name": inbox.name},
            "message_type": message.message_type,
            "private": message.private,
            "sender": self._sender_webhook(message),
            "source_id": message.source_id,
            "event": "message_created",
        }
        if message.attachments:
            data["attachments"] = [self._attachment_json(a) for a in message.attachments]
        return data


@asynccontextmanager
async def running_fake_chatwoot(
    *,
    token: str = CHATWOOT_TOKEN,
    account_id: int = CHATWOOT_ACCOUNT_ID,
    echo_api_messages: bool = True,
    redirect_downloads: bool = True,
    status_api: bool = True,
    now: Callable[[], float] = time.time,
) -> AsyncIterator[FakeChatwoot]:
    fake = FakeChatwoot(
        token=token,
        account_id=account_id,
        echo_api_messages=echo_api_messages,
        redirect_downloads=redirect_downloads,
        status_api=status_api,
        now=now,
    )
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", fake._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp keeps the server private
    fake.url = f"http://127.0.0.1:{port}"
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
        await runner.cleanup()
