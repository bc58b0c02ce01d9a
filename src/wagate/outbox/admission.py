"""Admitting a batch of prepared outbound messages in one transaction.

The acceptor (``accept.py``) validates each request on its own and hands the
finished row to the database's batch writer as an :class:`Admission`. Here
a whole batch is decided together, with a handful of set-based statements:

1. **Idempotency keys**: a key seen before replays its message (same body),
   is refused (``idempotency_key_reused``) or is still in flight on another
   request (409); an expired key, or the claim of a request that died, is
   taken over. The key is recorded completed, with its message, in the same
   transaction as the message: there is no window in which it is claimed but
   not completed.
2. **Addressing**: a ``@lid`` destination becomes the contact's phone number
   when the session knows it.
3. **Refusals**: an opted-out recipient (422 ``recipient_opted_out``; a revoke is
   still let through), the
   same text to the same chat within the duplicate window (409
   ``duplicate_message``, counting earlier messages of the same batch), an
   unknown ``msg_`` reference in ``reply_to`` or a reaction (422
   ``unknown_message``).
4. **Writes**: the keys, then every admitted message in one ``executemany``.

Ops are decided in submission order, so the result is what accepting them
one at a time would give.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wagate.domain import (
    Conflict,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidRequest,
    MessageType,
    is_lid,
    phone_jid,
    phone_of,
    split_jid,
)
from wagate.store import Connection
from wagate.store.batch import BatchKind
from wagate.store.models import Message
from wagate.store.repositories import outbound


@dataclass(slots=True)
class Admission:
    """One validated outbound message, ready to be stored."""

    row: dict[str, Any]  # every column of ``messages``
    destination: str  # the normalized ``to``: ``chat_id`` before a lid is resolved
    text_window_s: float  # the duplicate window for a text message, 0 when none applies
    reply_ref: str | None
    reaction_ref: str | None
    reaction_emoji: str | None
    key: str | None
    key_ttl_s: float
    key_stale_after_s: float
    # decided while the batch is applied
    outcome: Any = None
    follows: int | None = None  # index of an earlier op of the batch with the same key
    lid: str | None = None  # the destination's lid user, when it is addressed by lid
    take_over: outbound.KeyRow | None = field(default=None)

    @property
    def session_id(self) -> str:
        return str(self.row["session_id"])

    @property
    def chat_id(self) -> str:
        return str(self.row["chat_id"])


@dataclass(frozen=True, slots=True)
class Admitted:
    """The stored message (the row read back for a replay, the values written for a new
    one), and whether it was created now (False: a replay)."""

    message: Message | dict[str, Any]
    created: bool


class AdmissionKind(BatchKind[Admission]):
    name = "accept"

    def __init__(self, now: Any) -> None:
        self.now = now  # () -> datetime: the injected clock

    def apply(self, conn: Connection, ops: list[Admission]) -> list[Any]:
        now: datetime = self.now()
        for op in ops:  # from scratch: a batch that failed is applied again op by op
            op.outcome = None
            op.follows = None
            op.take_over = None
            op.row["chat_id"] = op.destination
            op.lid = split_jid(op.destination)[0] if is_lid(op.destination) else None
        self._keys(conn, ops, now)
        self._addresses(conn, _open(ops))
        self._opt_outs(conn, _open(ops))
        self._references(conn, _open(ops))
        self._duplicates(conn, _open(ops))
        self._write(conn, ops, now)
        return [op.outcome for op in ops]

    # ------------------------------------------------------------------ keys

    def _keys(self, conn: Connection, ops: list[Admission], now: datetime) -> None:
        keyed = [(i, op) for i, op in enumerate(ops) if op.key is not None]
        if not keyed:
            return
        existing = outbound.idempotency_keys(
            conn, {(op.session_id, str(op.key)) for _, op in keyed}
        )
        first_of: dict[tuple[str, str], int] = {}
        replays: dict[int, str] = {}
        for i, op in keyed:
            pair = (op.session_id, str(op.key))
            if pair in first_of:
                earlier = ops[first_of[pair]]
                if earlier.row["request_hash"] != op.row["request_hash"]:
                    op.outcome = _reused()
                else:
                    op.follows = first_of[pair]
                continue
            first_of[pair] = i
            row = existing.get(pair)
            if row is None:
                continue
            stale_before = now - timedelta(seconds=op.key_stale_after_s)
            if row.expires_at <= now or (row.message_id is None and row.created_at <= stale_before):
                op.take_over = row
            elif row.request_hash != op.row["request_hash"]:
                op.outcome = _reused()
            elif row.message_id is None:
                op.outcome = _in_flight()
            else:
                replays[i] = row.message_id
        found = outbound.messages_by_id(conn, set(replays.values()))
        for i, message_id in replays.items():
            message = found.get(message_id)
            ops[i].outcome = Admitted(message, False) if message is not None else _in_flight()

    # ------------------------------------------------------------------ addressing and refusals

    def _addresses(self, conn: Connection, ops: list[Admission]) -> None:
        lids = {(op.session_id, op.lid) for op in ops if op.lid}
        phones = outbound.phones_for_lids(conn, lids)
        for op in ops:
            phone = phones.get((op.session_id, op.lid)) if op.lid else None
            if phone:
                op.row["chat_id"] = phone_jid(phone)

    def _opt_outs(self, conn: Connection, ops: list[Admission]) -> None:
        # Deleting what was sent is always allowed: it takes nothing more to the recipient.
        ops = [op for op in ops if op.row["type"] != MessageType.REVOKE.value]
        phones = {(op.session_id, p) for op in ops if (p := phone_of(op.chat_id))}
        lids = {(op.session_id, op.lid) for op in ops if op.lid}
        refused = outbound.opted_out(conn, phones, lids)
        if not refused:
            return
        for op in ops:
            phone, lid = phone_of(op.chat_id), op.lid
            for contact in refused.get(op.session_id, ()):
                if (phone and contact.phone == phone) or (lid and contact.lid == lid):
                    who = f"+{contact.phone}" if contact.phone else f"{contact.lid}@lid"
                    op.outcome = InvalidRequest(
                        f"{who} opted out of messages from this session "
                        f"(at {contact.opted_out_at.isoformat()})",
                        code="recipient_opted_out",
                    )
                    break

    def _references(self, conn: Connection, ops: list[Admission]) -> None:
        refs = {
            (op.session_id, ref) for op in ops for ref in (op.reply_ref, op.reaction_ref) if ref
        }
        known = outbound.references(conn, refs)
        for op in ops:
            try:
                reply_to = _resolve(known, op.session_id, op.reply_ref)
                target = _resolve(known, op.session_id, op.reaction_ref)
            except InvalidRequest as refused:
                op.outcome = refused
                continue
            op.row["reply_to"] = reply_to
            if op.reaction_ref is not None:
                op.row["reaction"] = {"message_id": target, "emoji": op.reaction_emoji or None}

    def _duplicates(self, conn: Connection, ops: list[Admission]) -> None:
        texts: dict[tuple[str, str], list[Admission]] = {}
        for op in ops:
            if op.text_window_s > 0 and op.row["text"] is not None and op.follows is None:
                texts.setdefault((op.session_id, op.chat_id), []).append(op)
        if not texts:
            return
        outbound.lock_chats(conn, texts)
        earlier = outbound.recent_texts(
            conn,
            texts,
            {op.row["text"] for chat_ops in texts.values() for op in chat_ops},
            min(
                op.row["created_at"] - timedelta(seconds=op.text_window_s)
                for chat_ops in texts.values()
                for op in chat_ops
            ),
        )
        for chat, chat_ops in texts.items():
            seen = earlier.get(chat, {})
            for op in chat_ops:
                window = timedelta(seconds=op.text_window_s)
                found = seen.get(op.row["text"])
                if found is not None and found.created_at >= op.row["created_at"] - window:
                    op.outcome = _duplicate(op, found.message_id, found.created_at)
                    continue
                seen[op.row["text"]] = outbound.EarlierText(op.row["id"], op.row["created_at"])

    # ------------------------------------------------------------------ writes

    def _write(self, conn: Connection, ops: list[Admission], now: datetime) -> None:
        new_keys: list[dict[str, Any]] = []
        for op in ops:
            if op.outcome is not None or op.key is None or op.follows is not None:
                continue
            expires_at = now + timedelta(seconds=op.key_ttl_s)
            if op.take_over is not None:
                taken = outbound.take_over_key(
                    conn,
                    op.session_id,
                    op.key,
                    request_hash=op.row["request_hash"],
                    message_id=op.row["id"],
                    now=now,
                    expires_at=expires_at,
                    stale_before=now - timedelta(seconds=op.key_stale_after_s),
                    previous_message_id=op.take_over.message_id,
                )
                if not taken:
                    op.outcome = _in_flight()
                continue
            new_keys.append(
                {
                    "session_id": op.session_id,
                    "key": op.key,
                    "request_hash": op.row["request_hash"],
                    "message_id": op.row["id"],
                    "created_at": now,
                    "expires_at": expires_at,
                }
            )
        inserted = outbound.insert_keys(conn, new_keys)
        rows: list[dict[str, Any]] = []
        for op in ops:
            if op.follows is not None:
                continue
            claimed_now = op.key is not None and op.take_over is None
            if op.outcome is None and claimed_now and (op.session_id, op.key) not in inserted:
                op.outcome = _in_flight()  # another worker inserted this key first
                continue
            if op.outcome is None:
                rows.append(op.row)
                op.outcome = Admitted(op.row, True)
        outbound.insert_messages(conn, rows)
        for op in ops:
            if op.follows is not None:
                first = ops[op.follows].outcome
                op.outcome = (
                    Admitted(first.message, False) if isinstance(first, Admitted) else first
                )


def _open(ops: list[Admission]) -> list[Admission]:
    """The ops still undecided (no replay, no refusal, not following an earlier op)."""
    return [op for op in ops if op.outcome is None and op.follows is None]


def _resolve(
    known: dict[tuple[str, str], str | None], session_id: str, ref: str | None
) -> str | None:
    """A wagate message id becomes its WhatsApp id; anything else is taken as a WhatsApp id."""
    if ref is None:
        return None
    wa_message_id = known.get((session_id, ref))
    if wa_message_id:
        return wa_message_id
    if ref.startswith("msg_"):
        raise InvalidRequest(f"message {ref!r} not found in this session", code="unknown_message")
    return ref


def _reused() -> IdempotencyKeyReused:
    return IdempotencyKeyReused()


def _in_flight() -> IdempotencyKeyInFlight:
    return IdempotencyKeyInFlight()


def _duplicate(op: Admission, earlier_id: str, earlier_at: datetime) -> Conflict:
    return Conflict(
        f"the same text was sent to {op.chat_id} as message {earlier_id} at "
        f"{earlier_at.isoformat()}; identical texts to one chat need "
        f"{op.text_window_s:g} s between them (or an Idempotency-Key to replay the first)",
        code="duplicate_message",
    )
