"""Calls that need a session's live connection, answered by whichever worker runs it.

A worker that runs the session answers at once. Any other worker writes a
command row; the owner claims it (woken by PostgreSQL ``NOTIFY``, or by its own
poll as the fallback), runs it on its :class:`SessionRuntime` and writes the
answer, which the caller reads back. The caller gets the same answer, or the
same error, as on the owner; when the owner does not answer within the timeout
it gets 504 ``owner_timeout``, and a command not taken by then is never run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import structlog

from wagate.domain import (
    Clock,
    Jid,
    NotConnected,
    OwnerTimeout,
    PresenceState,
    RemoteError,
    WagateError,
)
from wagate.domain.groups import GROUP_ACTION
from wagate.domain.profiles import PROFILE_ACTION
from wagate.sessions.manager import SessionManager
from wagate.sessions.runtime import SessionRuntime
from wagate.store import Database
from wagate.store.notify import Listener
from wagate.store.repositories import commands

log = structlog.get_logger("wagate.sessions.remote")

Handler = Callable[[SessionRuntime, dict[str, Any]], Awaitable[dict[str, Any]]]


async def _presence(runtime: SessionRuntime, args: dict[str, Any]) -> dict[str, Any]:
    await runtime.send_presence(Jid(args["chat"]), PresenceState(args["state"]))
    return {}


async def _read(runtime: SessionRuntime, args: dict[str, Any]) -> dict[str, Any]:
    await runtime.mark_read(Jid(args["chat"]), list(args["wa_message_ids"]), args.get("sender"))
    return {}


async def _check(runtime: SessionRuntime, args: dict[str, Any]) -> dict[str, Any]:
    found = await runtime.check_numbers(list(args["phones"]))
    return {"items": [asdict(answer) for answer in found]}


async def _manage_group(runtime: SessionRuntime, args: dict[str, Any]) -> dict[str, Any]:
    return await runtime.manage_group(GROUP_ACTION.validate_python(args))


async def _manage_profile(runtime: SessionRuntime, args: dict[str, Any]) -> dict[str, Any]:
    return await runtime.manage_profile(PROFILE_ACTION.validate_python(args))


async def _connection(runtime: SessionRuntime, _: dict[str, Any]) -> dict[str, Any]:
    """What only the worker that runs the session knows about its connection."""
    return {
        "reconnect_attempts": runtime.reconnect_attempts,
        "protocol": runtime.monitor.as_json(),
    }


async def _pairing(runtime: SessionRuntime, args: dict[str, Any]) -> dict[str, Any]:
    return {"code": await runtime.pairing_code_for(args["phone"])}


HANDLERS: dict[str, Handler] = {
    "presence": _presence,
    "read": _read,
    "check_numbers": _check,
    "group": _manage_group,
    "profile": _manage_profile,
    "pairing_code": _pairing,
    "connection": _connection,
}


class RemoteCalls:
    def __init__(
        self,
        *,
        db: Database,
        manager: SessionManager,
        clock: Clock,
        timeout_s: float = 10.0,
        poll_s: float = 0.5,
    ) -> None:
        self.db = db
        self.manager = manager
        self.clock = clock
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._wakeup = asyncio.Event()
        self._handlers = dict(HANDLERS)
        self._handlers["logout"] = self._logout_here

    async def _logout_here(self, runtime: SessionRuntime, _: dict[str, Any]) -> dict[str, Any]:
        await self.manager.logout(runtime.session_id)
        return {}

    async def logout(self, session_id: str) -> None:
        """Log the session out where it runs, so WhatsApp unlinks the device now. When its
        worker does not answer, the logout is recorded here (credentials wiped, desired
        state stopped) and that worker closes the session at its next lease pass."""
        if await self.runs_elsewhere(session_id):
            try:
                await self.call(session_id, "logout", {})
                return
            except (OwnerTimeout, NotConnected) as exc:
                log.warning("owner did not log out; recording it here", error=exc.message)
        await self.manager.logout(session_id)

    async def delete(self, session_id: str) -> None:
        """Log out where the session runs, then delete it with its messages and media."""
        await self.logout(session_id)
        await self.manager.delete(session_id)

    def register(self, kind: str, handler: Handler) -> None:
        """Add a call kind (the composition root adds the simulator's controls)."""
        self._handlers[kind] = handler

    async def runs_elsewhere(self, session_id: str) -> bool:
        """Whether another live worker holds the session's lease now."""
        if self.manager.runtime(session_id) is not None:
            return False
        async with self.db.read() as tx:
            owner = await commands.lease_owner(tx, session_id, self.clock.now())
        return owner is not None and owner != self.manager.worker_id

    async def call(
        self,
        session_id: str,
        kind: str,
        args: dict[str, Any],
        *,
        when_nobody_runs: type[NotConnected] = NotConnected,
    ) -> dict[str, Any]:
        """Run ``kind`` on the session's live connection, here or on its owner; raise
        ``when_nobody_runs`` (409) when no worker holds the session."""
        handler = self._handlers[kind]
        runtime = self.manager.runtime(session_id)
        if runtime is not None:
            return await handler(runtime, args)
        async with self.db.transaction() as tx:
            owner = await commands.lease_owner(tx, session_id, self.clock.now())
            if owner is None:
                raise when_nobody_runs("no worker runs the session now")
            command_id = await commands.create(
                tx,
                session_id=session_id,
                kind=kind,
                args=args,
                now=self.clock.now(),
                ttl=timedelta(seconds=self.timeout_s),
                owner=owner,
            )
        return await self._answer(command_id, owner)

    async def _answer(self, command_id: str, owner: str) -> dict[str, Any]:
        """Read the answer back, often at first and less so later (real time: the owner
        answers in real time whatever clock the caller runs on)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        pause = 0.01
        while loop.time() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)
            async with self.db.read() as tx:
                row = await commands.answer(tx, command_id)
            if row is None:
                break
            if row.status == "done":
                return dict(row.result or {})
            if row.status == "failed":
                error = row.error or {}
                raise RemoteError(
                    str(error.get("code", "internal_error")),
                    str(error.get("message", "the owner failed")),
                    int(error.get("status", 500)),
                )
        async with self.db.transaction() as tx:
            await commands.abandon(tx, command_id, self.clock.now())
        raise OwnerTimeout(f"the worker that runs the session ({owner}) did not answer in time")

    # ------------------------------------------------------------------ the owner's side

    def wake(self, worker_id: str | None = None) -> None:
        if worker_id in (None, self.manager.worker_id):
            self._wakeup.set()

    async def serve(self) -> None:
        """Run the commands for the sessions held here: woken by NOTIFY, or every poll."""
        listener = Listener(self.db, commands.CHANNEL, self.wake)
        listening = asyncio.get_running_loop().create_task(listener.run(), name="commands-listen")
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_s)
                self._wakeup.clear()
                try:
                    await self.run_pending()
                except Exception as exc:
                    log.error("session commands pass failed", error=repr(exc))
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening

    async def run_pending(self) -> int:
        held = [runtime.session_id for runtime in self.manager.running()]
        if not held:
            return 0
        async with self.db.read() as tx:
            if not await commands.any_open(tx, held, self.clock.now()):
                return 0
        async with self.db.transaction() as tx:
            claimed = await commands.claim(tx, self.manager.worker_id, held, self.clock.now())
            taken = [(row.id, row.session_id, row.kind, dict(row.args)) for row in claimed]
        await asyncio.gather(*(self._run(*command) for command in taken))
        return len(taken)

    async def _run(self, command_id: str, session_id: str, kind: str, args: dict[str, Any]) -> None:
        result: dict[str, Any] | None = None
        error: dict[str, Any] | None = None
        try:
            runtime = self.manager.runtime(session_id)
            if runtime is None:
                raise NotConnected("the session stopped running on its worker")
            result = await self._handlers[kind](runtime, args)
        except WagateError as exc:
            error = {"code": exc.code, "message": exc.message, "status": exc.status_code}
        except Exception as exc:
            log.error("session command failed", kind=kind, session_id=session_id, error=repr(exc))
            error = {"code": "internal_error", "message": "the owner failed", "status": 500}
        async with self.db.transaction() as tx:
            await commands.finish(tx, command_id, self.clock.now(), result=result, error=error)
