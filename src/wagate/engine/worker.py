"""Answering one batch: ask the brain once, keep its answer, accept the replies once.

A worker claims ``ready`` batches with a lease (``engine_batches``), so one
worker answers each. The brain's answer is committed on the batch before any
reply is accepted, and each reply is accepted with the idempotency key
``engine:<batch id>:<part>``: a batch picked up again after a crash (or after
its lease lapsed) replays the same replies instead of asking again, and the
contact gets each reply once. A brain that fails or times out gets the
fallback reply, or silence; nothing it does stops the engine.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import structlog

from wagate.domain import Clock, MessageType, WagateError, phone_of
from wagate.domain.urls import ensure_public_url
from wagate.engine import journal, replies, voice
from wagate.engine.assistants import open_brain, open_transcription_key, settings_of
from wagate.engine.brains import BrainError, BrainReply, BrainRequest, Brains, Turn
from wagate.engine.closing import BatchChange, BatchChangeKind, Changed, LeaseLost, Replies, Step
from wagate.engine.settings import AssistantSettings
from wagate.engine.state import ChatState
from wagate.events import SecretBox
from wagate.outbox import OutboundAcceptor
from wagate.store import Database
from wagate.store.models import Message, Session
from wagate.store.models_engine import EngineBatch
from wagate.store.repositories import conversations, events, messages
from wagate.store.serialize import message_json

log = structlog.get_logger("wagate.engine")

MAX_ATTEMPTS = 3


class BatchWorker:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        acceptor: OutboundAcceptor,
        brains: Brains,
        box: SecretBox,
        http: httpx.AsyncClient,
        owner: str,
        lease_ttl_s: float,
        allow_private_urls: bool,
        media_max_bytes: int,
        notify: Callable[[], None],
        monotonic: Callable[[], float],
        on_accepted: Callable[[str], None] = lambda session_id: None,
    ) -> None:
        self.on_accepted = on_accepted
        self.db = db
        self.clock = clock
        self.acceptor = acceptor
        self.brains = brains
        self.box = box
        self.http = http
        self.owner = owner
        self.lease_ttl_s = lease_ttl_s
        self.allow_private_urls = allow_private_urls
        self.media_max_bytes = media_max_bytes
        self.notify = notify
        self.monotonic = monotonic
        self._changes = BatchChangeKind(acceptor.admissions, clock.now)

    async def process(self, batch: EngineBatch) -> None:
        """Never raises (but for cancellation): a failure is logged and stepped."""
        try:
            await self._process(batch)
        except LeaseLost:
            log.info("engine batch taken over by another worker", batch_id=batch.id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("engine batch failed", batch_id=batch.id)
            await self._record_failure(batch, exc)

    async def _process(self, batch: EngineBatch) -> None:
        async with self.db.read() as tx:
            session = await tx.get(Session, batch.session_id)
            settings = settings_of(await conversations.get_assistant(tx, batch.session_id))
            conv = await conversations.get_conversation(tx, batch.session_id, batch.chat_id)
            rows = await messages.by_ids(tx, batch.message_ids)
            history = await _history(tx, batch, rows, settings.history_window)
        if session is None or conv is None:
            return
        if batch.attempts > MAX_ATTEMPTS:
            await self._finish(batch, "failed", "error", {"error": "too many attempts"})
            return
        if conv.state != ChatState.BOT:
            await self._finish(batch, "skipped", "skipped", {"reason": conv.state})
            return
        policy = self.acceptor.policy_for(session)
        if rows and all(policy.is_opt_out(r.text) for r in rows):  # "STOP": no answer at all
            await self._finish(batch, "skipped", "skipped", {"reason": "opted_out"})
            return
        reply = batch.reply
        steps: list[Step] = []  # the brain's step, when it commits with the batch's close
        if reply is None:
            await self._hear(batch, session, settings, rows)
            reply, steps = await self._ask(batch, session, settings, rows, history)
        await self._read_time(batch, session, settings, rows)
        await self._reply(batch, session, settings, reply, steps)  # unless a human took over

    # ------------------------------------------------------------------ the brain

    async def _hear(
        self,
        batch: EngineBatch,
        session: Session,
        settings: AssistantSettings,
        rows: list[Message],
    ) -> None:
        """Transcribe the batch's voice notes, when the assistant hears them: the brain then
        reads their words. Each transcript is kept on its message (a batch taken up again
        finds it done) with a ``transcribed`` step, and announced as ``message.updated``;
        a failure is a ``transcription_failed`` step, and the brain gets ``[voice]``."""
        hearing = settings.transcription
        if not hearing.enabled:
            return
        api_key = open_transcription_key(self.box, session.id, settings)
        for row in rows:
            if row.type not in HEARD or row.transcript is not None or not row.media:
                continue
            started = self.monotonic()
            try:
                if hearing.base_url:  # a tenant's URL: the same rules as the brain's
                    await ensure_public_url(hearing.base_url, allow_private=self.allow_private_urls)
                mime = row.media.get("mime_type") or "audio/ogg"
                audio = await self.acceptor.media.read(session.id, row.id, mime)
                if audio is None:
                    raise BrainError("the voice note's file is not stored")
                text = await asyncio.wait_for(
                    self.brains.transcribe(
                        hearing, api_key, audio, mime, row.media.get("file_name") or "voice.ogg"
                    ),
                    hearing.timeout_s,
                )
            except (TimeoutError, BrainError, WagateError) as exc:
                error = "timed out" if isinstance(exc, TimeoutError) else str(exc)
                await self._note(
                    batch, "transcription_failed", {"message_id": row.id, "error": error}
                )
                continue
            row.transcript = text
            latency_ms = round((self.monotonic() - started) * 1000)
            async with self.db.transaction() as tx:
                await messages.set_transcript(tx, row.id, text, self.clock.now())
                await events.append_event(
                    tx,
                    tenant_id=row.tenant_id,
                    session_id=row.session_id,
                    type="message.updated",
                    data={"change": "transcribed", **message_json(row)},
                    now=self.clock.now(),
                )
                conv = await conversations.get_conversation(tx, batch.session_id, batch.chat_id)
                if conv is not None:
                    data = {"message_id": row.id, "text": text, "latency_ms": latency_ms}
                    await journal.step(tx, conv, "transcribed", data, self.clock.now())
            self.notify()

    async def _note(self, batch: EngineBatch, kind: str, data: dict[str, Any]) -> None:
        """One step in the chat's journal, committed now."""
        async with self.db.transaction() as tx:
            conv = await conversations.get_conversation(tx, batch.session_id, batch.chat_id)
            if conv is not None:
                await journal.step(tx, conv, kind, data, self.clock.now())
        self.notify()

    async def _ask(
        self,
        batch: EngineBatch,
        session: Session,
        settings: AssistantSettings,
        rows: list[Message],
        history: list[Turn],
    ) -> tuple[dict[str, Any], list[Step]]:
        """Ask once. An answer of several replies is committed on the batch before any is
        accepted (a batch taken up again replays them); a single reply is not kept: its
        idempotency key alone makes it once, and its step commits with the batch's close."""
        request = self._request(batch, session, settings, rows, history)
        started = self.monotonic()
        error: str | None = None
        answer = BrainReply()
        try:
            if settings.brain.base_url:  # a tenant's URL: the same rules as webhooks
                await ensure_public_url(
                    settings.brain.base_url, allow_private=self.allow_private_urls
                )
            opened = open_brain(self.box, session.id, settings)
            await self.brains.load(opened.kind)
            brain = self.brains.build(opened, opened.api_key, session.name)
            answer = await asyncio.wait_for(brain.reply(request), settings.brain.timeout_s)
        except TimeoutError:
            error = f"the brain did not answer within {settings.brain.timeout_s:g} s"
        except (BrainError, WagateError) as exc:
            error = str(exc)
        except Exception as exc:  # an SDK or brain bug must not stop the engine
            error = repr(exc)
        latency_ms = round((self.monotonic() - started) * 1000)
        stored: dict[str, Any] = {"parts": answer.parts, "voice": None}
        if error is None and answer.audio is not None:
            try:
                data, mime = await voice.fetch(
                    answer.audio,
                    self.http,
                    allow_private=self.allow_private_urls,
                    max_bytes=self.media_max_bytes,
                )
                converted = await voice.to_ogg_opus(data, mime)
                stored["voice"] = {
                    "base64": base64.b64encode(converted or data).decode(),
                    "mime_type": voice.OGG_OPUS if converted else (mime or "audio/mpeg"),
                }
            except (BrainError, WagateError) as exc:
                error = f"voice reply: {exc}"
        if error is not None:
            fallback = [settings.fallback_reply] if settings.fallback_reply else []
            stored = {"parts": fallback, "voice": None, "fallback": True, "error": error}
        kind = "brain_error" if error else "brain"
        step = {
            "batch_id": batch.id,
            "brain": settings.brain.kind,
            "latency_ms": latency_ms,
            "worker": self.owner,
            "parts": len(stored["parts"]) + (1 if stored["voice"] else 0),
        }
        if error:
            step.update(error=error[:500], fallback=bool(stored["parts"]))
            log.warning("brain failed", batch_id=batch.id, error=error[:200])
        if len(self._plan(batch, settings, stored)) < 2:
            return stored, [(kind, step, self.clock.now())]
        await self._change(batch, {"reply": stored}, [(kind, step, None)])
        return stored, []

    @staticmethod
    def _request(
        batch: EngineBatch,
        session: Session,
        settings: AssistantSettings,
        rows: list[Message],
        history: list[Turn],
    ) -> BrainRequest:
        return BrainRequest(
            session_id=session.id,
            chat_id=batch.chat_id,
            phone=phone_of(batch.chat_id),
            push_name=next((r.push_name for r in reversed(rows) if r.push_name), None),
            batch_id=batch.id,
            messages=[message_json(r) for r in rows],
            history=history,
            system_prompt=settings.brain.system_prompt,
        )

    async def _read_time(
        self, batch: EngineBatch, session: Session, settings: AssistantSettings, rows: list[Message]
    ) -> None:
        """The reading time before answering counts from the flush, brain time included."""
        pacing = settings.pacing or self.acceptor.policy_for(session).pacing
        seconds = replies.reading_time("\n".join(r.text or "" for r in rows), pacing)
        wait = (batch.created_at + timedelta(seconds=seconds) - self.clock.now()).total_seconds()
        if wait > 0:
            await self.clock.sleep(wait)

    # ------------------------------------------------------------------ replying

    async def _reply(
        self,
        batch: EngineBatch,
        session: Session,
        settings: AssistantSettings,
        reply: dict[str, Any],
        steps: list[Step],
    ) -> None:
        """Queue the replies and close the batch in one write (:mod:`wagate.engine.closing`)."""
        answer = Replies(parts=[], fallback=bool(reply.get("fallback")))
        for item in self._plan(batch, settings, reply):
            try:
                admission = await self.acceptor.prepare(
                    session, item.request, f"engine:{batch.id}:{item.key}"
                )
            except WagateError as exc:
                answer.refused.append({"part": item.key, "code": exc.code, "message": exc.message})
            else:
                answer.parts.append((item.key, admission))
        try:
            changed = await self._change(
                batch, {"status": "done", "lease_owner": None}, steps, answer
            )
        except LeaseLost:
            for _, admission in answer.parts:
                self.acceptor.discard(admission)
            raise
        accepted = False
        for (_, admission), outcome in zip(answer.parts, changed.outcomes, strict=True):
            try:
                accepted = self.acceptor.settled(admission, outcome).created or accepted
            except Exception:
                continue  # refused: its step says why
        if accepted:
            self.on_accepted(session.id)  # the session's sender looks at once
        self.notify()

    @staticmethod
    def _plan(
        batch: EngineBatch, settings: AssistantSettings, reply: dict[str, Any]
    ) -> list[replies.Planned]:
        voice_body = reply.get("voice") or None
        return replies.plan(
            batch_id=batch.id,
            chat_id=batch.chat_id,
            parts=list(reply.get("parts") or []),
            voice=base64.b64decode(voice_body["base64"]) if voice_body else None,
            voice_mime=voice_body.get("mime_type") if voice_body else None,
            message_ids=batch.message_ids,
            settings=settings,
        )

    # ------------------------------------------------------------------ bookkeeping

    async def _change(
        self,
        batch: EngineBatch,
        values: dict[str, Any],
        steps: list[Step],
        replies: Replies | None = None,
    ) -> Changed:
        """Change the batch while this worker holds it, renewing the lease; with its steps."""
        lease = self.clock.now() + timedelta(seconds=self.lease_ttl_s)
        change = BatchChange(
            batch_id=batch.id,
            owner=self.owner,
            tenant_id=batch.tenant_id,
            session_id=batch.session_id,
            chat_id=batch.chat_id,
            values={"lease_expires_at": lease, **values},
            steps=steps,
            replies=replies,
        )
        changed: Changed = await self.db.batches.submit(self._changes, change)
        return changed

    async def _finish(
        self,
        batch: EngineBatch,
        status: str,
        kind: str,
        data: dict[str, Any],
        before: list[Step] | None = None,
    ) -> None:
        await self._change(
            batch,
            {"status": status, "lease_owner": None},
            [*(before or []), (kind, {"batch_id": batch.id, **data}, None)],
        )
        self.notify()

    async def _record_failure(self, batch: EngineBatch, exc: BaseException) -> None:
        """Leave the batch to be retried when its lease lapses; note the error."""
        try:
            async with self.db.transaction() as tx:
                conv = await conversations.get_conversation(tx, batch.session_id, batch.chat_id)
                if conv is not None:
                    await journal.step(
                        tx,
                        conv,
                        "error",
                        {"batch_id": batch.id, "error": repr(exc)[:500]},
                        self.clock.now(),
                    )
        except Exception:
            log.exception("could not record an engine failure", batch_id=batch.id)


_NOT_TURNS = {MessageType.EDIT.value, MessageType.REVOKE.value}
HEARD = {MessageType.VOICE.value, MessageType.AUDIO.value}  # what the assistant transcribes


async def _history(tx: Any, batch: EngineBatch, rows: list[Message], window: int) -> list[Turn]:
    """The chat's last ``window`` messages before the batch, oldest first, as turns."""
    if window <= 0 or not rows:
        return []
    earlier = await messages.chat_before(tx, batch.session_id, batch.chat_id, rows[0].seq, window)
    history: list[Turn] = []
    for row in reversed(list(earlier)):
        if row.type in _NOT_TURNS or row.revoked_at is not None:
            continue  # an edit is already in its message's text; a deleted message is gone
        text = row.text or (f"[{row.type}]" if row.type != "reaction" else "")
        if text:
            contact = row.direction == "in" and not row.from_me
            history.append(Turn("user" if contact else "assistant", text))
    return history
