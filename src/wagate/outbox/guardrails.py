"""Guardrails applied by delaying, never by dropping: rate, bursts, daily cap, quiet hours.

:func:`hold_for` is a pure decision on a chat's recent sends; :class:`Guard`
keeps that history per chat for one session's sender, loaded from the
database the first time a chat is seen, then updated as messages go out.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from wagate.domain.policy import DeliveryPolicy
from wagate.store import AsyncSession
from wagate.store.repositories import messages

PROACTIVE_AFTER = timedelta(hours=24)  # no inbound from the chat for this long: proactive


class HoldReason(StrEnum):
    """Why a message is waiting (shown on the message as ``waiting.reason``)."""

    QUIET_HOURS = "quiet_hours"  # proactive message inside the session's quiet hours
    DAILY_CAP = "daily_cap"  # the session sent its proactive messages for the day
    RATE_LIMIT = "rate_limit"  # too many messages to this recipient in the last minute
    BURST_COOLDOWN = "burst_cooldown"  # a burst to this recipient; cooling down
    RETRY = "retry"  # the last attempt failed; waiting to try again


@dataclass(frozen=True, slots=True)
class Hold:
    reason: HoldReason
    until: datetime


def next_local_midnight(now: datetime, policy: DeliveryPolicy) -> datetime:
    local = now.astimezone(policy.zone)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(now.tzinfo)


def local_day_start(now: datetime, policy: DeliveryPolicy) -> datetime:
    local = now.astimezone(policy.zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(now.tzinfo)


def hold_for(
    policy: DeliveryPolicy,
    now: datetime,
    recent_sends: list[datetime],
    *,
    proactive: bool,
    sent_today: int,
) -> Hold | None:
    """The latest hold that applies to the next message of a chat, or None to send now.

    ``recent_sends`` are this chat's send times, oldest first.
    """
    holds: list[Hold] = []
    if proactive and policy.quiet_hours is not None:
        end = policy.quiet_hours.window_end(now.astimezone(policy.zone))
        if end is not None:
            holds.append(Hold(HoldReason.QUIET_HOURS, end.astimezone(now.tzinfo)))
    if proactive and sent_today >= policy.daily_cap:
        holds.append(Hold(HoldReason.DAILY_CAP, next_local_midnight(now, policy)))
    minute_ago = now - timedelta(minutes=1)
    in_last_minute = recent_sends[bisect.bisect_right(recent_sends, minute_ago) :]
    if len(in_last_minute) >= policy.rate_per_minute:
        oldest_that_counts = in_last_minute[-policy.rate_per_minute]
        holds.append(Hold(HoldReason.RATE_LIMIT, oldest_that_counts + timedelta(minutes=1)))
    burst = recent_sends[-policy.burst_size :]
    if len(burst) == policy.burst_size and (
        burst[-1] - burst[0] <= timedelta(seconds=policy.burst_window_s)
    ):
        cooled = burst[-1] + timedelta(seconds=policy.burst_cooldown_s)
        if now < cooled:
            holds.append(Hold(HoldReason.BURST_COOLDOWN, cooled))
    holds = [h for h in holds if h.until > now]
    return max(holds, key=lambda h: h.until) if holds else None


@dataclass(slots=True)
class ChatHistory:
    sends: deque[datetime] = field(default_factory=lambda: deque(maxlen=64))
    last_inbound: datetime | None = None
    inbound_checked: float | None = None  # monotonic time last_inbound was read


INBOUND_RECHECK_S = 1.0
"""How stale the last inbound time of a chat that looks proactive may be (real seconds).

Inbound messages stored by this process update it at once; this bounds how
late one stored by another worker (an ingest webhook) is seen. A chat with an
inbound in the last 24 h needs no re-reading: that can only get more recent.
"""


class Guard:
    """One session's guardrail state in this process."""

    def __init__(self, session_id: str, policy: DeliveryPolicy) -> None:
        self.session_id = session_id
        self.policy = policy
        self._chats: dict[str, ChatHistory] = {}
        self._day_start: datetime | None = None
        self._sent_today = 0

    def inbound_seen(self, chat_id: str, at: datetime) -> None:
        history = self._chats.get(chat_id)
        if history is not None and (history.last_inbound is None or at > history.last_inbound):
            history.last_inbound = at

    def needs_loading(self, chat_id: str, now: datetime) -> bool:
        """Whether :meth:`load_chats` has anything to read for this chat now."""
        history = self._chats.get(chat_id)
        if history is None or history.inbound_checked is None:
            return True
        if not self.is_proactive(chat_id, now):
            return self._day_start != local_day_start(now, self.policy)
        return time.monotonic() - history.inbound_checked >= INBOUND_RECHECK_S or (
            self._day_start != local_day_start(now, self.policy)
        )

    async def load_chats(self, tx: AsyncSession, chat_ids: Collection[str], now: datetime) -> None:
        """Read what the guardrails need of these chats, in two statements for all of them:
        the recent sends of chats seen for the first time, and every chat's last inbound."""
        chat_ids = list(dict.fromkeys(chat_ids))
        if not chat_ids:
            return
        new = [c for c in chat_ids if c not in self._chats]
        if new:
            since = now - timedelta(
                seconds=max(60.0, self.policy.burst_cooldown_s + self.policy.burst_window_s)
            )
            for chat_id in new:
                self._chats[chat_id] = ChatHistory()
            for chat_id, sent_at in await messages.sent_since(tx, self.session_id, new, since):
                self._chats[chat_id].sends.append(sent_at)
        last = await messages.last_inbound_at(tx, self.session_id, chat_ids)
        checked = time.monotonic()
        for chat_id, at in last.items():
            self.inbound_seen(chat_id, at)
        for chat_id in chat_ids:
            self._chats[chat_id].inbound_checked = checked
        await self._load_day(tx, now)

    async def _load_day(self, tx: AsyncSession, now: datetime) -> None:
        start = local_day_start(now, self.policy)
        if self._day_start == start:
            return
        self._day_start = start
        self._sent_today = await messages.proactive_sent_since(tx, self.session_id, start)

    def is_proactive(self, chat_id: str, now: datetime) -> bool:
        history = self._chats.get(chat_id)
        last = history.last_inbound if history else None
        return last is None or now - last > PROACTIVE_AFTER

    def check(self, chat_id: str, now: datetime, *, proactive: bool) -> Hold | None:
        if self._day_start is not None and now >= next_local_midnight(self._day_start, self.policy):
            self._day_start, self._sent_today = local_day_start(now, self.policy), 0
        history = self._chats.get(chat_id) or ChatHistory()
        return hold_for(
            self.policy, now, list(history.sends), proactive=proactive, sent_today=self._sent_today
        )

    def record_send(self, chat_id: str, at: datetime, *, proactive: bool) -> None:
        self._chats.setdefault(chat_id, ChatHistory()).sends.append(at)
        if proactive:
            self._sent_today += 1

    def forget_chat(self, chat_id: str) -> None:
        self._chats.pop(chat_id, None)
