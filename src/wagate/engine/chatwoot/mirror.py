"""One session's chats mirrored into its Chatwoot inbox: each chat's contact and
conversation, found or made once and remembered, and each message posted into it.

A chat is one Chatwoot contact, keyed by the chat's JID (its phone JID once wagate knows
the number behind an ``@lid``) and found by that identifier or by phone number before
one is made. Its conversation is remembered in ``chatwoot_conversations``; without a row
(a first message, or a row lost) the contact's conversations in the inbox are looked at
before a new one is opened, so a restart never opens a second conversation. A resolved
conversation is continued when the link says ``reopen_conversation``; else the next
message opens a new one, as Evolution does.

Messages that wagate posts carry ``source_id`` ``WAID:<WhatsApp id>``: Chatwoot sends
them back in its webhook, and the agent-reply handler skips them by that mark.

A contact made before its WhatsApp name was known (the owner wrote first from the
phone, or an ``@lid`` chat) gets that name when it arrives, as long as Chatwoot still
shows a number or the name wagate gave it: an agent's edit in Chatwoot stays.

A message sent on WhatsApp is remembered with the Chatwoot message that shows it
(``chatwoot_messages``: posted here, or an agent's reply), so that its receipts become
that message's ticks (:meth:`Mirror.tick`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from wagate.domain import Clock
from wagate.engine.chatwoot import content
from wagate.engine.chatwoot.api import ChatwootApi, ChatwootError
from wagate.store import Database
from wagate.store.media import MediaStore
from wagate.store.models_engine import ChatwootLink
from wagate.store.repositories import chatwoot, contacts

log = structlog.get_logger("wagate.chatwoot")

OURS = "WAID:"  # source_id prefix of the messages wagate posts
TICKS = {"delivered": "delivered", "read": "read", "played": "read", "failed": "failed"}
"""wagate's receipt statuses as Chatwoot's message statuses (a voice note played is read)."""


@dataclass(frozen=True, slots=True)
class Chat:
    """Who a message's chat is, for Chatwoot."""

    key: str  # the JID the contact is identified by (and replies go to)
    name: str
    phone: str | None  # E.164 with '+', when known
    placeholder: str  # the name without a WhatsApp name: the number, or the JID's user

    @property
    def named(self) -> bool:
        """Whether ``name`` is the person's own WhatsApp name."""
        return self.name != self.placeholder


class Mirror:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        media: MediaStore,
        link: ChatwootLink,
        api: ChatwootApi,
    ) -> None:
        self.db = db
        self.clock = clock
        self.media = media
        self.link = link
        self.api = api

    async def chat_of(self, message: Mapping[str, Any]) -> Chat:
        chat_id = str(message.get("chat_id"))
        if message.get("chat_type") == "group":
            group = f"Group {chat_id.split('@')[0]}"
            return Chat(chat_id, group, None, group)
        digits: str | None = None
        if chat_id.endswith("@s.whatsapp.net"):
            digits = chat_id.split("@")[0]
        elif not message.get("from_me") and message.get("sender_phone"):
            digits = str(message["sender_phone"])
        elif chat_id.endswith("@lid"):
            async with self.db.read() as tx:
                digits = await contacts.phone_for_lid(tx, self.link.session_id, chat_id)
        key = f"{digits}@s.whatsapp.net" if digits else chat_id
        placeholder = f"+{digits}" if digits else chat_id.split("@")[0]
        name = (None if message.get("from_me") else message.get("push_name")) or placeholder
        return Chat(key, str(name), f"+{digits}" if digits else None, placeholder)

    async def post(self, message: Mapping[str, Any], *, outgoing: bool) -> None:
        """The message into its chat's conversation (``outgoing``: sent by the business)."""
        if not content.shown(message):
            return
        chat = await self.chat_of(message)
        conversation_id = await self.conversation_for(chat)
        text = content.text_of(message)
        attachment = await self._file(message) if content.has_file(message) else None
        if text is None and attachment is None:
            return
        posted = await self.api.create_message(
            conversation_id,
            content=text,
            message_type="outgoing" if outgoing else "incoming",
            source_id=f"{OURS}{message.get('wa_message_id') or message.get('id')}",
            attachment=attachment,
        )
        if outgoing and message.get("id") and posted.get("id"):
            async with self.db.transaction() as tx:
                await chatwoot.remember_message(
                    tx,
                    session_id=self.link.session_id,
                    message_ids=[str(message["id"])],
                    conversation_id=conversation_id,
                    chatwoot_message_id=int(posted["id"]),
                    now=self.clock.now(),
                )

    async def tick(self, status_event: Mapping[str, Any]) -> None:
        """A receipt (``message.status``) as the ticks of the Chatwoot message that shows
        the message, if one does. Ticks are a courtesy: a Chatwoot that refuses them
        (older than the call, or not an API inbox) is logged, not dead-lettered."""
        status = TICKS.get(str(status_event.get("status")))
        if status is None:
            return
        async with self.db.read() as tx:
            shown = await chatwoot.message_shown_by(
                tx, self.link.session_id, str(status_event.get("message_id"))
            )
        if shown is None:
            return
        error = status_event.get("error") or {}
        reason = (error.get("message") or error.get("code")) if status == "failed" else None
        try:
            await self.api.set_message_status(
                shown.conversation_id,
                shown.chatwoot_message_id,
                status,
                external_error=str(reason) if reason else None,
            )
        except ChatwootError as exc:
            log.info(
                "chatwoot refused a message's ticks",
                session_id=self.link.session_id,
                error=exc.message,
            )

    async def note(self, message: Mapping[str, Any], text: str) -> None:
        """A private note in the message's conversation, if it has one (no conversation is
        opened for a note)."""
        chat = await self.chat_of(message)
        async with self.db.read() as tx:
            row = await chatwoot.conversation_of(tx, self.link.session_id, chat.key)
        if row is not None:
            await self.api.create_message(
                row.conversation_id, content=text, message_type="outgoing", private=True
            )

    async def conversation_for(self, chat: Chat) -> int:
        link = self.link
        async with self.db.read() as tx:
            row = await chatwoot.conversation_of(tx, link.session_id, chat.key)
        name: str | None = None  # the contact's name in Chatwoot, when looked up here
        if row is not None:
            if chat.named and row.contact_name != chat.name:
                await self._name(row.contact_id, row.contact_name, chat)
            if link.reopen_conversation:
                return row.conversation_id
            current = await self.api.conversation(row.conversation_id)
            if current.get("status") != "resolved":
                return row.conversation_id
            contact_id = row.contact_id
        else:
            contact_id, name = await self._contact(chat)
            reused = await self._open_conversation(contact_id)
            if reused is not None:
                await self._remember(chat, contact_id, reused, name)
                return reused
        status = "pending" if link.conversation_pending else None
        created = await self.api.create_conversation(
            inbox_id=link.inbox_id, contact_id=contact_id, status=status
        )
        await self._remember(chat, contact_id, int(created["id"]), name)
        return int(created["id"])

    async def _contact(self, chat: Chat) -> tuple[int, str]:
        """The chat's contact, found or made, and the name it has in Chatwoot now."""
        found = await self.api.find_contact(phone=chat.phone, identifier=chat.key)
        if found is None:
            made = await self.api.create_contact(
                inbox_id=self.link.inbox_id, name=chat.name, phone=chat.phone, identifier=chat.key
            )
            return int(made["id"]), chat.name
        contact_id, name = int(found["id"]), str(found.get("name") or "")
        if found.get("identifier") != chat.key:
            await self.api.update_contact(contact_id, {"identifier": chat.key})
        if chat.named and name != chat.name and name in _placeholders(chat):
            await self.api.update_contact(contact_id, {"name": chat.name})
            name = chat.name
        return contact_id, name

    async def _name(self, contact_id: int, given: str | None, chat: Chat) -> None:
        """The contact's WhatsApp name, when Chatwoot still shows the name wagate gave it
        (a number, or an older WhatsApp name): an agent's edit is never overwritten."""
        current = str((await self.api.contact(contact_id)).get("name") or "")
        if current != chat.name and (current == given or current in _placeholders(chat)):
            await self.api.update_contact(contact_id, {"name": chat.name})
        async with self.db.transaction() as tx:
            await chatwoot.set_contact_name(
                tx, self.link.session_id, chat.key, chat.name, self.clock.now()
            )

    async def _open_conversation(self, contact_id: int) -> int | None:
        """The contact's latest conversation in this inbox that may be continued."""
        mine = [
            c
            for c in await self.api.contact_conversations(contact_id)
            if int(c.get("inbox_id") or 0) == self.link.inbox_id
            and (self.link.reopen_conversation or c.get("status") != "resolved")
        ]
        return max((int(c["id"]) for c in mine), default=None)

    async def _remember(
        self, chat: Chat, contact_id: int, conversation_id: int, contact_name: str | None
    ) -> None:
        async with self.db.transaction() as tx:
            await chatwoot.remember_conversation(
                tx,
                session_id=self.link.session_id,
                chat_id=chat.key,
                contact_id=contact_id,
                conversation_id=conversation_id,
                source_id=None,
                contact_name=contact_name,
                now=self.clock.now(),
            )

    async def _file(self, message: Mapping[str, Any]) -> tuple[str, bytes, str] | None:
        media = message.get("media") or {}
        data = await self.media.read_attached(self.link.session_id, media)
        if data is None:
            return None
        mime = str(media.get("mime_type") or "application/octet-stream")
        return content.file_name(message), data, mime.split(";")[0]


def _placeholders(chat: Chat) -> set[str]:
    """Names that only say which number or JID the contact is (wagate's, or a bridge's
    before it): a WhatsApp name may replace them."""
    user = chat.key.split("@")[0]
    return {"", chat.placeholder, user, f"+{user}"} | ({chat.phone} if chat.phone else set())
