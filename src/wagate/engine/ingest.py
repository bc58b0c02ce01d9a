"""Reading the event log: what contacts and the phone's owner did, applied to chat state.

One worker at a time reads the log for the engine: the holder of the lease
on the ``engine`` cursor row. Each page of events is applied in one
transaction that also moves the cursor, conditionally on the lease and on
the cursor's old value, so a page is applied exactly once even when the
lease changes hands in the middle. The log is read up to the shared
:class:`~wagate.events.LogHorizon`, so no late commit is skipped.

- ``message.received`` from a contact: buffered in its chat's batch (if the
  session's assistant is on and the chat is the bot's), or a hand-off
  keyword pauses the chat;
- ``message.received`` with ``from_me``: the owner typed on the phone (ids
  wagate sends are recorded before sending, so our own messages never come
  back as received): the chat pauses (``human_reply``);
- ``presence``: the contact typing or recording holds the window open.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from wagate.domain import Clock, phone_of
from wagate.engine import batching, journal, takeover
from wagate.engine.assistants import settings_of
from wagate.engine.settings import AssistantSettings
from wagate.engine.state import ChatState, PauseReason
from wagate.events import LogHorizon
from wagate.store import AsyncSession, Database
from wagate.store.models import Event
from wagate.store.models_engine import Conversation, EngineCursor
from wagate.store.repositories import conversations, engine_work, events
from wagate.store.serialize import iso

log = structlog.get_logger("wagate.engine")

CURSOR = "engine"
TYPES = ["message.received", "presence"]
PAGE = 500
MEDIA = {"image", "video", "audio", "voice", "document", "sticker"}
TYPING = {"composing", "recording"}
UNANSWERED = {"reaction", "unsupported"}  # never a reason to answer


class _CursorMoved(Exception):
    """Another worker applied this page (our lease lapsed): roll back, read again."""


class LogReader:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        horizon: LogHorizon,
        owner: str,
        lease_ttl_s: float,
        notify: Callable[[], None],
    ) -> None:
        self.db = db
        self.clock = clock
        self.horizon = horizon
        self.owner = owner
        self.lease_ttl_s = lease_ttl_s
        self.notify = notify
        self.holding = False

    async def hold(self) -> bool:
        """Take or renew the cursor's lease; True while this worker reads the log."""
        async with self.db.transaction() as tx:
            cursor = await engine_work.hold_cursor(
                tx, name=CURSOR, owner=self.owner, now=self.clock.now(), ttl_s=self.lease_ttl_s
            )
        self.holding = cursor is not None
        return self.holding

    async def release(self) -> None:
        async with self.db.transaction() as tx:
            await engine_work.release_cursor(tx, CURSOR, self.owner)
        self.holding = False

    async def read(self) -> bool:
        """Apply one page; True if more may be waiting."""
        async with self.db.read() as tx:
            cursor = await tx.get(EngineCursor, CURSOR)
        if cursor is None or cursor.lease_owner != self.owner:
            self.holding = False
            return False
        start = cursor.cursor_seq
        safe = await self.horizon.refresh()
        if safe <= start:
            return False
        async with self.db.read() as tx:
            page = await events.list_events(
                tx, tenant_id=None, after=start, limit=PAGE, types=TYPES, upto=safe
            )
        end = page[-1].seq if len(page) == PAGE else safe
        now = self.clock.now()
        try:
            async with self.db.transaction() as tx:
                if not await engine_work.move_cursor(
                    tx, name=CURSOR, owner=self.owner, old=start, new=end, now=now
                ):
                    raise _CursorMoved()
                rows = await conversations.assistants_for(
                    tx, {e.session_id for e in page if e.session_id}
                )
                settings = {sid: settings_of(row) for sid, row in rows.items()}
                chats = await conversations.ensure_conversations(
                    tx, _chats(page, settings), now=now
                )
                for event in page:
                    await self.apply(tx, event, settings, now, chats)
        except _CursorMoved:
            log.info("engine cursor moved by another worker", start=start)
            return False
        if page:
            self.notify()
        return len(page) == PAGE

    async def apply(
        self,
        tx: AsyncSession,
        event: Event,
        settings: dict[str, AssistantSettings],
        now: datetime,
        chats: dict[tuple[str, str], Conversation] | None = None,
    ) -> None:
        if event.session_id is None:
            return
        data = event.data
        chat_id = data.get("chat_id")
        if not isinstance(chat_id, str):
            return
        rules = settings.get(event.session_id) or settings_of(None)
        is_group = data.get("chat_type") == "group" or chat_id.endswith("@g.us")
        if is_group and not rules.groups:
            return
        if event.type == "presence":
            await self._presence(tx, event, rules)
            return
        if data.get("direction") != "in":
            return
        conv = (chats or {}).get((event.session_id, chat_id))
        if conv is None:
            conv = await conversations.ensure_conversation(
                tx,
                session_id=event.session_id,
                tenant_id=event.tenant_id,
                chat_id=chat_id,
                now=now,
            )
        conv.last_message_at = event.created_at
        conv.updated_at = now
        if data.get("from_me"):
            await takeover.pause(
                tx,
                conv,
                PauseReason.HUMAN_REPLY,
                now=event.created_at,
                resume_after_s=rules.resume_after_s,
                data={"message_id": data.get("id")},
            )
            return
        if not rules.enabled:
            return
        await self._contact_message(tx, conv, data, rules, event.created_at)

    async def _contact_message(
        self,
        tx: AsyncSession,
        conv: Conversation,
        data: dict[str, Any],
        rules: AssistantSettings,
        at: datetime,
    ) -> None:
        excluded = _excluded(conv.chat_id, rules)
        if excluded and conv.state == ChatState.BOT:
            conv.state = ChatState.OFF.value
        elif not excluded and conv.state == ChatState.OFF:
            conv.state = ChatState.BOT.value
        if conv.state != ChatState.BOT:
            return
        keyword = takeover.handoff_keyword(data.get("text"), rules.handoff_keywords)
        if keyword is not None:
            await takeover.pause(tx, conv, PauseReason.HANDOFF, now=at, data={"keyword": keyword})
            await journal.event(
                tx,
                conv,
                "conversation.handoff_requested",
                {"keyword": keyword, "message_id": data.get("id")},
                at,
            )
            return
        if data.get("type") in UNANSWERED or data.get("revoked_at"):
            return
        message_id = str(data.get("id"))
        if not await engine_work.buffer_message(
            tx, session_id=conv.session_id, chat_id=conv.chat_id, message_id=message_id, now=at
        ):
            return
        conv.pending += 1
        conv.batch_first_at = conv.batch_first_at or at
        conv.batch_due_at = batching.due_after_message(
            rules.batching,
            first_at=conv.batch_first_at,
            at=at,
            media=data.get("type") in MEDIA,
            pending=conv.pending,
            typing=conv.typing,
        )
        await journal.step(
            tx,
            conv,
            "buffered",
            {"message_id": message_id, "pending": conv.pending, "due_at": iso(conv.batch_due_at)},
            at,
        )

    async def _presence(self, tx: AsyncSession, event: Event, rules: AssistantSettings) -> None:
        assert event.session_id is not None
        conv = await conversations.get_conversation(
            tx, event.session_id, event.data["chat_id"], lock=True
        )
        if conv is None or conv.state != ChatState.BOT:
            return
        typing = event.data.get("state") in TYPING
        if typing == conv.typing:
            return
        conv.typing = typing
        conv.updated_at = event.created_at
        if conv.pending > 0 and conv.batch_first_at is not None:
            conv.batch_due_at = batching.due_after_typing(
                rules.batching, first_at=conv.batch_first_at, at=event.created_at, typing=typing
            )
            await journal.step(
                tx,
                conv,
                "typing" if typing else "typing_stopped",
                {"due_at": iso(conv.batch_due_at)},
                event.created_at,
            )


def _chats(page: list[Event], settings: dict[str, AssistantSettings]) -> dict[tuple[str, str], str]:
    """The (session, chat) pairs the page's received messages touch, with their tenant
    (the rows :meth:`LogReader.apply` would create one by one)."""
    keys: dict[tuple[str, str], str] = {}
    for event in page:
        chat_id = event.data.get("chat_id")
        if (
            event.type != "message.received"
            or not event.session_id
            or not isinstance(chat_id, str)
            or event.data.get("direction") != "in"
        ):
            continue
        rules = settings.get(event.session_id) or settings_of(None)
        if not rules.groups and (
            event.data.get("chat_type") == "group" or chat_id.endswith("@g.us")
        ):
            continue
        keys[(event.session_id, chat_id)] = event.tenant_id
    return keys


def _excluded(chat_id: str, rules: AssistantSettings) -> bool:
    """Outside the allow list (when there is one) or on the ignore list."""
    names = {chat_id, phone_of(chat_id) or ""}
    names.discard("")

    def listed(entries: list[str]) -> bool:
        for entry in entries:
            clean = entry.strip()
            if "@" not in clean:
                clean = "".join(ch for ch in clean if ch.isdigit())
            if clean in names:
                return True
        return False

    if rules.allow and not listed(rules.allow):
        return True
    return listed(rules.ignore)
