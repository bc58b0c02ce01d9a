"""Builders for neonize's event protobufs (all their required fields set) and shared helpers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from neonize.events import EVENT_TO_INT
from neonize.proto import Neonize_pb2 as neo
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message
from neonize.utils.jid import build_jid

from wagate.domain import TransportEvent

E = TypeVar("E")
REPO = Path(__file__).resolve().parents[3]
FAKE_HOST_ARGS = (
    "--session-factory",
    "tests.transports.whatsmeow.fake_engine:FakeEngine",
    "--test-commands",
)
HOST_ENV = {**os.environ, "PYTHONPATH": str(REPO)}

CONTACT = "5511988887777"
CONTACT_LID = "123456789012345"
GROUP = "120363000000000001"


def jid(value: str) -> neo.JID:
    """``user@server`` -> neonize's JID; an empty string gives the empty JID."""
    if not value:
        return neo.JID(User="", Server="", RawAgent=0, Device=0, Integrator=0, IsEmpty=True)
    user, _, server = value.partition("@")
    return build_jid(user, server)


def source(
    chat: str,
    sender: str,
    *,
    from_me: bool = False,
    sender_alt: str = "",
    recipient_alt: str = "",
) -> neo.MessageSource:
    return neo.MessageSource(
        Chat=jid(chat),
        Sender=jid(sender),
        IsFromMe=from_me,
        IsGroup=chat.endswith("@g.us"),
        SenderAlt=jid(sender_alt),
        RecipientAlt=jid(recipient_alt),
        BroadcastListOwner=jid(""),
    )


def message_event(
    content: Message,
    src: neo.MessageSource,
    *,
    wa_id: str = "3A0000000000000001",
    push_name: str = "Maria",
    timestamp: int = 1_767_614_400,
) -> neo.Message:
    info = neo.MessageInfo(
        MessageSource=src,
        ID=wa_id,
        ServerID=0,
        Type="text",
        Pushname=push_name,
        Timestamp=timestamp,
        Category="",
        Multicast=False,
        MediaType="",
        Edit="",
    )
    return neo.Message(
        Info=info,
        Message=content,
        IsEphemeral=False,
        IsViewOnce=False,
        IsViewOnceV2=False,
        IsViewOnceV2Extension=False,
        IsDocumentWithCaption=False,
        IsLottieSticker=False,
        IsEdit=False,
        UnavailableRequestID="",
        RetryCount=0,
    )


def direct(content: Message, **kwargs: Any) -> neo.Message:
    """A message from CONTACT (phone JID) in a direct chat."""
    return message_event(
        content, source(f"{CONTACT}@s.whatsapp.net", f"{CONTACT}@s.whatsapp.net"), **kwargs
    )


def event_code(event: Any) -> int:
    return EVENT_TO_INT[type(event)]


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` holds: for state another process or the clock changes."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - nothing to await: a subprocess changes it
            await asyncio.sleep(0.01)


class EventLog:
    """An event sink that keeps what it is given, and lets a test wait for a kind."""

    def __init__(self) -> None:
        self.events: list[TransportEvent] = []
        self._changed = asyncio.Event()

    async def __call__(self, event: TransportEvent, /) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    async def wait_for(
        self,
        kind: type[E],
        count: int = 1,
        *,
        timeout: float = 10.0,
        where: Callable[[E], bool] | None = None,
    ) -> list[E]:
        async def until() -> list[E]:
            while True:
                found = [e for e in self.of(kind) if where is None or where(e)]
                if len(found) >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(until(), timeout)
