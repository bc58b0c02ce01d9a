"""Where a phone number lives on WhatsApp, asked of the session's transport before the
first send to it, and remembered for a while.

Many Brazilian accounts were registered before the ninth digit was added to mobile
numbers and still live at the 8-digit JID: a message addressed to the 9-digit form lands
in a chat nobody reads. WhatsApp's number check answers with the JID the account really
has, so the first send to a number asks it, and the message goes there; a number with no
account fails with ``not_on_whatsapp`` instead of being reported sent. Answers are kept
per session for ``ttl_s`` (a number that had no account, for a tenth of it: people join),
at most ``MAX_KEPT`` of them, least recently used out first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from wagate.domain import Clock
from wagate.sessions import SessionRuntime

MAX_KEPT = 100_000


@dataclass(frozen=True, slots=True)
class _Known:
    jid: str | None  # None: no WhatsApp account
    until: datetime


class NumberBook:
    def __init__(self, clock: Clock, ttl_s: float) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self._known: OrderedDict[tuple[str, str], _Known] = OrderedDict()

    async def jid_for(self, runtime: SessionRuntime, digits: str) -> str | None:
        """The JID the number's account lives at, or None when it has none. Raises what the
        transport's check raises (not connected: the message waits for the connection)."""
        key = (runtime.session_id, digits)
        now = self.clock.now()
        known = self._known.get(key)
        if known is not None and now < known.until:
            self._known.move_to_end(key)
            return known.jid
        [answer] = await runtime.check_numbers([digits])
        jid = answer.jid if answer.on_whatsapp and answer.jid else None
        keep = self.ttl_s if jid is not None else self.ttl_s / 10
        self._known[key] = _Known(jid, now + timedelta(seconds=keep))
        self._known.move_to_end(key)
        while len(self._known) > MAX_KEPT:
            self._known.popitem(last=False)
        return jid

    def forget(self, session_id: str) -> None:
        """A session was relinked or deleted: ask again."""
        for key in [k for k in self._known if k[0] == session_id]:
            del self._known[key]
