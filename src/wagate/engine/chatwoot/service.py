"""A session's Chatwoot inbox: linking it, and what Chatwoot's webhook brings back.

Linking (``PUT /v1/sessions/{id}/chatwoot``) finds or makes the API-channel inbox by
name and points its webhook at wagate (``/v1/ingest/chatwoot/{session}?token=``; the
token is new at each link and kept as its SHA-256). The bridge (:mod:`.bridge`) then
mirrors the session's messages into it.

From the webhook:

- an agent's reply (``message_created``, outgoing, not a private note, not one wagate
  posted) is queued as a send to the conversation's chat, through the guardrails, with
  the idempotency key ``chatwoot:<account>:<message id>`` (so Chatwoot posting it twice
  sends it once). Attachments are queued by their URL (the queue fetches them at send
  time, following Active Storage's redirects) and sent as media, the reply's words as
  the first one's caption. With ``sign_messages`` the
  agent's name goes first, as Evolution does. The chat then pauses the assistant as a
  reply typed on the phone does (``conversation.paused``, ``human_reply``).
  The reply's messages are remembered with it, so their receipts become its ticks.
- a conversation resolved in Chatwoot hands the chat back to the assistant
  (``conversation.resumed``, reason ``chatwoot_resolved``).
"""

from __future__ import annotations

import hmac
import mimetypes
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import structlog

from wagate.domain import (
    AuthError,
    Clock,
    MessageType,
    OutboundMedia,
    OutboundMessageRequest,
    normalize_destination,
)
from wagate.domain.urls import ensure_public_url
from wagate.engine.chatwoot.api import ChatwootApi
from wagate.engine.chatwoot.bridge import AGENT_KEY, ChatwootBridge, token_context
from wagate.engine.chatwoot.mirror import OURS
from wagate.engine.engine import ConversationEngine
from wagate.events import SecretBox
from wagate.outbox import OutboundAcceptor
from wagate.store import Database
from wagate.store.models import Session
from wagate.store.models_engine import ChatwootLink
from wagate.store.repositories import chatwoot, sessions
from wagate.store.repositories.tenants import hash_key

log = structlog.get_logger("wagate.chatwoot")

FILE_TYPES = {
    "image": MessageType.IMAGE,
    "audio": MessageType.AUDIO,
    "video": MessageType.VIDEO,
}


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """What a link is made of (the API's body, or Evolution's ``chatwoot/set``)."""

    url: str
    account_id: int
    token: str
    inbox_name: str
    enabled: bool = True
    sign_messages: bool = False
    reopen_conversation: bool = True
    conversation_pending: bool = False


def link_json(link: ChatwootLink, webhook_url: str | None = None) -> dict[str, Any]:
    return {
        "session_id": link.session_id,
        "enabled": link.enabled,
        "url": link.url,
        "account_id": link.account_id,
        "inbox_id": link.inbox_id,
        "inbox_name": link.inbox_name,
        "sign_messages": link.sign_messages,
        "reopen_conversation": link.reopen_conversation,
        "conversation_pending": link.conversation_pending,
        "webhook_url": webhook_url,  # shown when it is set; its token is not kept
    }


class ChatwootLinks:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        box: SecretBox,
        bridge: ChatwootBridge,
        acceptor: OutboundAcceptor,
        wake_outbox: Callable[[str], None],
        engine: Callable[[], ConversationEngine | None],
        allow_private_urls: bool,
    ) -> None:
        self.db = db
        self.clock = clock
        self.box = box
        self.bridge = bridge
        self.acceptor = acceptor
        self.wake_outbox = wake_outbox
        self.engine = engine
        self.allow_private_urls = allow_private_urls

    # ------------------------------------------------------------------ linking

    async def link(
        self, session: Session, request: LinkRequest, ingest_base: str
    ) -> dict[str, Any]:
        """Link the session to the inbox (found by name, or made), its webhook to wagate."""
        await ensure_public_url(request.url, allow_private=self.allow_private_urls)
        api = ChatwootApi(self.bridge.http, request.url, request.account_id, request.token)
        webhook_token = secrets.token_urlsafe(24)
        webhook_url = f"{ingest_base}/v1/ingest/chatwoot/{session.id}?token={webhook_token}"
        async with self.db.read() as tx:
            current = await chatwoot.find_link(tx, session.id)
        inbox = None
        for candidate in await api.inboxes():
            same_id = current is not None and candidate.get("id") == current.inbox_id
            if same_id or candidate.get("name") == request.inbox_name:
                inbox = candidate
                break
        if inbox is None:
            inbox = await api.create_inbox(request.inbox_name, webhook_url)
        else:
            await api.set_inbox_webhook(int(inbox["id"]), webhook_url)
        values = {
            "tenant_id": session.tenant_id,
            "enabled": request.enabled,
            "url": request.url.rstrip("/"),
            "account_id": request.account_id,
            "token": self.box.seal(request.token, token_context(session.id)),
            "inbox_id": int(inbox["id"]),
            "inbox_name": str(inbox.get("name") or request.inbox_name),
            "webhook_token_hash": hash_key(webhook_token),
            "sign_messages": request.sign_messages,
            "reopen_conversation": request.reopen_conversation,
            "conversation_pending": request.conversation_pending,
        }
        async with self.db.transaction() as tx:
            link = await chatwoot.save_link(tx, session.id, values, self.clock.now())
        self.bridge.reconfigure()
        return link_json(link, webhook_url)

    async def view(self, session: Session) -> dict[str, Any]:
        async with self.db.read() as tx:
            return link_json(await chatwoot.get_link(tx, session.id))

    async def disable(self, session: Session) -> dict[str, Any] | None:
        """Stop mirroring but keep the link (Evolution's ``enabled: false``); None when the
        session has no link."""
        async with self.db.transaction() as tx:
            link = await chatwoot.find_link(tx, session.id)
            if link is None:
                return None
            link = await chatwoot.save_link(tx, session.id, {"enabled": False}, self.clock.now())
        self.bridge.reconfigure()
        return link_json(link)

    def token_of(self, session_id: str, sealed: str) -> str:
        """A link's Chatwoot token (Evolution's ``chatwoot/find`` shows it to the instance's
        caller)."""
        return self.box.open(sealed, token_context(session_id))

    async def unlink(self, session: Session) -> None:
        async with self.db.transaction() as tx:
            await chatwoot.delete_link(tx, session.id)
        self.bridge.reconfigure()

    # ------------------------------------------------------------------ the webhook

    async def webhook(self, session_id: str, token: str, payload: dict[str, Any]) -> str:
        """Chatwoot's webhook for the session's inbox; what was done (for the answer)."""
        async with self.db.read() as tx:
            link = await chatwoot.find_link(tx, session_id)
            session = await sessions.get_session(tx, session_id, None) if link else None
        if link is None or session is None:
            raise AuthError("the Chatwoot webhook token is not valid", code="invalid_ingest_token")
        if not hmac.compare_digest(hash_key(token), link.webhook_token_hash):
            raise AuthError("the Chatwoot webhook token is not valid", code="invalid_ingest_token")
        if not link.enabled:
            return "ignored: the link is disabled"
        event = payload.get("event")
        if event == "message_created":
            return await self._agent_message(link, session, payload)
        if event == "conversation_status_changed" and payload.get("status") == "resolved":
            return await self._resolved(session, int(payload.get("id") or 0))
        return f"ignored: {event}"

    async def _chat(self, session_id: str, conversation: dict[str, Any]) -> str | None:
        async with self.db.read() as tx:
            chat = await chatwoot.chat_of(tx, session_id, int(conversation.get("id") or 0))
        if chat is not None:
            return chat
        contact = (conversation.get("meta") or {}).get("sender") or {}
        found = contact.get("identifier") or contact.get("phone_number")
        return normalize_destination(str(found)) if found else None

    async def _agent_message(
        self, link: ChatwootLink, session: Session, payload: dict[str, Any]
    ) -> str:
        if payload.get("message_type") != "outgoing" or payload.get("private"):
            return "ignored: not an agent's reply"
        if str(payload.get("source_id") or "").startswith(OURS):
            return "ignored: posted by wagate"
        if (payload.get("sender") or {}).get("type") == "contact":
            return "ignored: the contact's"
        chat = await self._chat(session.id, payload.get("conversation") or {})
        if chat is None:
            return "ignored: not a conversation of this session"
        text = payload.get("content") or None
        name = (payload.get("sender") or {}).get("available_name") or (
            payload.get("sender") or {}
        ).get("name")
        if text and link.sign_messages and name:
            text = f"*{name}:*\n{text}"
        key = f"{AGENT_KEY}{link.account_id}:{payload.get('id')}"
        requests = self._requests(chat, text, payload.get("attachments") or [])
        queued = [
            str((await self.acceptor.accept(session, request, f"{key}:{index}")).json["id"])
            for index, request in enumerate(requests)
        ]
        async with self.db.transaction() as tx:  # its receipts become the reply's ticks
            await chatwoot.remember_message(
                tx,
                session_id=session.id,
                message_ids=queued,
                conversation_id=int((payload.get("conversation") or {}).get("id") or 0),
                chatwoot_message_id=int(payload.get("id") or 0),
                now=self.clock.now(),
            )
        self.wake_outbox(session.id)
        engine = self.engine()
        if engine is not None and queued:
            await engine.human_reply(session, chat, queued[0], source="chatwoot")
        return f"queued {len(requests)}"

    @staticmethod
    def _requests(
        chat: str, text: str | None, attachments: list[Any]
    ) -> list[OutboundMessageRequest]:
        """The sends of an agent's reply. Files go by their URL: the queue fetches each
        when it sends it (retried while Chatwoot is away, the size limit applied then), so
        Chatwoot's webhook is answered at once, and a reply with a large file is neither
        held up nor lost by a restart in between."""
        requests: list[OutboundMessageRequest] = []
        for attachment in attachments:
            url = str(attachment.get("data_url") or "")
            if not url:
                continue
            file_name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or None
            kind = FILE_TYPES.get(str(attachment.get("file_type")), MessageType.DOCUMENT)
            media = OutboundMedia(
                url=url,
                mime_type=mimetypes.guess_type(file_name)[0] if file_name else None,
                file_name=file_name,
                caption=text if not requests and kind is not MessageType.AUDIO else None,
            )
            requests.append(OutboundMessageRequest(to=chat, type=kind, media=media))
        if text and (not requests or requests[0].type is MessageType.AUDIO):
            requests.insert(0, OutboundMessageRequest(to=chat, text=text))  # audio: no caption
        return requests

    async def _resolved(self, session: Session, conversation_id: int) -> str:
        chat = await self._chat(session.id, {"id": conversation_id})
        engine = self.engine()
        if chat is None or engine is None:
            return "ignored: no chat to hand back"
        await engine.resume(session, chat, reason="chatwoot_resolved")
        return "resumed"
