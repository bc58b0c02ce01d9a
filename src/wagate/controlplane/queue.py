"""The control plane's outbound queue into wagate's: every ``queue_poll_s``, each connected
instance running on this worker reads ``GET /queued-messages`` and accepts each message
into wagate's durable queue with the idempotency key ``cp:<message id>``.

The control plane keeps a message queued until it is marked sent, so it is read again
and again: the key makes every later accept (here, after a restart, or on the worker
that takes the instance over) a replay of the first, never a second send. Marking
sent and failed is the reporter's (:mod:`.reporter`), from the event log, after
wagate actually sent it.

Destinations as wa-worker takes them: digits, a JID, a group id without its
``@g.us``; an ``@lid`` is asked of ``/contacts/primary-jid`` and fails as
``lid_without_mapping`` without an answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from pydantic import ValidationError

from wagate.controlplane.client import ControlPlaneClient, Queued
from wagate.controlplane.locks import InstanceLocks
from wagate.domain import (
    Clock,
    MessageType,
    OutboundMedia,
    OutboundMessageRequest,
    WagateError,
    wait_for,
)
from wagate.outbox import OutboundAcceptor
from wagate.sessions import SessionManager
from wagate.store import Database
from wagate.store.session_rows import session_row

log = structlog.get_logger("wagate.controlplane")

KEY = "cp:"  # the idempotency key prefix of the control plane's messages
MEDIA = {
    "image": MessageType.IMAGE,
    "video": MessageType.VIDEO,
    "audio": MessageType.AUDIO,
    "document": MessageType.DOCUMENT,
}
REMEMBERED = 10_000  # message ids accepted by this process, skipped without a replay


class QueueReader:
    def __init__(
        self,
        *,
        client: ControlPlaneClient,
        db: Database,
        clock: Clock,
        manager: SessionManager,
        locks: InstanceLocks,
        acceptor: OutboundAcceptor,
        wake_outbox: Callable[[str], None],
        poll_s: float,
    ) -> None:
        self.client = client
        self.db = db
        self.clock = clock
        self.manager = manager
        self.locks = locks
        self.acceptor = acceptor
        self.wake_outbox = wake_outbox
        self.poll_s = poll_s
        self._accepted: dict[str, None] = {}  # insertion-ordered, bounded

    async def run(self, stop: asyncio.Event) -> None:
        """Read every ``poll_s`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.read_once()
            except Exception as exc:
                log.warning("control plane queue not read", error=repr(exc))
            await wait_for(stop, self.clock, real_timeout=self.poll_s)

    async def read_once(self) -> int:
        """One pass over the instances connected here; how many messages were accepted."""
        accepted = 0
        for runtime in self.manager.running():
            if not runtime.connected:
                continue  # never sent while the instance is not connected (the seed's rule)
            instance = await self.locks.instance_of(runtime.session_id)
            if instance is None:
                continue
            for queued in await self.client.queued_messages(instance):
                if queued.id in self._accepted:
                    continue
                accepted += await self._accept(runtime.session_id, instance, queued)
        return accepted

    async def _accept(self, session_id: str, instance: str, queued: Queued) -> int:
        to = await self._destination(instance, queued)
        if to is None:
            return 0
        try:
            request = self._request(to, queued)
            row = await session_row(self.db, session_id, None)
            accepted = await self.acceptor.accept(row, request, f"{KEY}{queued.id}")
        except ValidationError as exc:
            await self.client.mark_failed(
                queued.id, instance, "invalid_message", {"error": str(exc)[:500]}
            )
            return 0
        except WagateError as exc:
            if exc.status_code >= 500:
                raise
            await self.client.mark_failed(queued.id, instance, exc.code, {"error": exc.message})
            return 0
        self._remember(queued.id)
        if accepted.created:
            self.wake_outbox(session_id)
            return 1
        return 0

    async def _destination(self, instance: str, queued: Queued) -> str | None:
        to = queued.to.strip()
        if to.endswith("@lid"):
            phone = await self.client.primary_jid(instance, to)
            if phone is None:
                await self.client.mark_failed(
                    queued.id, instance, "lid_without_mapping", {"to": to}
                )
            return phone
        if "@" not in to and "-" in to:  # a group id without its server
            return f"{to}@g.us"
        return to

    @staticmethod
    def _request(to: str, queued: Queued) -> OutboundMessageRequest:
        if not queued.media_url:
            return OutboundMessageRequest(to=to, text=queued.body)
        kind = MEDIA.get(str(queued.media_type), MessageType.DOCUMENT)
        media = OutboundMedia(
            url=queued.media_url,
            mime_type=queued.mime_type,
            file_name=queued.file_name,
            caption=queued.body or None if kind is not MessageType.AUDIO else None,
        )
        return OutboundMessageRequest(to=to, type=kind, media=media)

    def _remember(self, message_id: str) -> None:
        self._accepted[message_id] = None
        if len(self._accepted) > REMEMBERED:
            del self._accepted[next(iter(self._accepted))]
