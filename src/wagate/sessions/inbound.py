"""Storing a batch of inbound messages, and of receipts, in one transaction.

The recorder turns each ``MessageReceived`` into an :class:`Arrival` (the
row, the sender's identity, the session's opt-out keywords) and hands it to
the database's batch writer. A whole batch is then stored together:

1. every message is inserted once (the unique (session, WhatsApp id) pair
   drops redeliveries, within the batch too), with its ``message.received``
   event;
2. what the direct messages teach about their senders is folded into the
   contacts in memory, in arrival order (a phone and a lid seen together
   merge two rows into one; ``last_inbound_at``; the push name), then
   written with a statement per kind of change;
3. an inbound text that is exactly an opt-out keyword opts its sender out
   (``contact.opted_out``); anything else from an opted-out sender opts them
   back in (``contact.opted_in``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wagate.domain import ReceiptReceived, new_id
from wagate.domain.policy import DeliveryPolicy
from wagate.store import Connection
from wagate.store.batch import BatchKind
from wagate.store.repositories import inbound, messages, receipts
from wagate.store.repositories.events import EventRow, append_events
from wagate.store.serialize import iso, message_json


@dataclass(slots=True)
class Arrival:
    """One inbound message ready to be stored."""

    tenant_id: str
    row: dict[str, Any]  # every column of ``messages``
    phone: str | None  # the sender, for a direct message from someone else
    lid: str | None
    push_name: str | None
    policy: DeliveryPolicy

    @property
    def session_id(self) -> str:
        return str(self.row["session_id"])

    @property
    def learns_contact(self) -> bool:
        return bool(self.phone or self.lid)


class Contacts:
    """A batch's contacts in memory: looked up once, changed in arrival order, written once."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self._by_phone: dict[tuple[str, str], str] = {}
        self._by_lid: dict[tuple[str, str], str] = {}
        self.new: set[str] = set()
        self.changed: set[str] = set()
        self.deleted: set[str] = set()
        for row in rows:
            self._index(row)

    def _index(self, row: dict[str, Any]) -> None:
        self.by_id[row["id"]] = row
        if row["phone"]:
            self._by_phone[(row["session_id"], row["phone"])] = row["id"]
        if row["lid"]:
            self._by_lid[(row["session_id"], row["lid"])] = row["id"]

    def remember(self, arrival: Arrival, now: datetime) -> dict[str, Any]:
        """What this message teaches about its sender (as ``remember_contact`` does)."""
        session_id = arrival.session_id
        by_phone = self._get(self._by_phone, session_id, arrival.phone)
        by_lid = self._get(self._by_lid, session_id, arrival.lid)
        contact = by_phone or by_lid
        if by_phone is not None and by_lid is not None and by_phone["id"] != by_lid["id"]:
            contact = by_phone
            contact["opted_out_at"] = contact["opted_out_at"] or by_lid["opted_out_at"]
            contact["blocked_at"] = contact["blocked_at"] or by_lid["blocked_at"]
            self._drop(by_lid)
        if contact is None:
            contact = {
                "id": new_id("con"),
                "session_id": session_id,
                "phone": None,
                "lid": None,
                "push_name": None,
                "opted_out_at": None,
                "blocked_at": None,
                "last_inbound_at": None,
                "created_at": now,
                "updated_at": now,
            }
            self.new.add(contact["id"])
        if arrival.phone:
            contact["phone"] = arrival.phone
        if arrival.lid:
            contact["lid"] = arrival.lid
        if arrival.push_name:
            contact["push_name"] = arrival.push_name
        contact["last_inbound_at"] = now
        contact["updated_at"] = now
        self._index(contact)
        self.changed.add(contact["id"])
        return contact

    def _get(
        self, index: dict[tuple[str, str], str], session_id: str, value: str | None
    ) -> dict[str, Any] | None:
        contact_id = index.get((session_id, value)) if value else None
        return self.by_id.get(contact_id) if contact_id else None

    def _drop(self, row: dict[str, Any]) -> None:
        del self.by_id[row["id"]]
        for index, value in ((self._by_phone, row["phone"]), (self._by_lid, row["lid"])):
            if value and index.get((row["session_id"], value)) == row["id"]:
                del index[(row["session_id"], value)]
        self.changed.discard(row["id"])
        if row["id"] in self.new:
            self.new.discard(row["id"])
        else:
            self.deleted.add(row["id"])

    def save(self, conn: Connection) -> None:
        inbound.save_contacts(
            conn,
            [self.by_id[i] for i in self.new],
            [self.by_id[i] for i in self.changed - self.new],
            self.deleted,
        )


class ArrivalKind(BatchKind[Arrival]):
    name = "inbound"

    def __init__(
        self,
        now: Callable[[], datetime],
        on_events: Callable[[], None],
        on_inbound: Callable[[str, str, datetime], None],
    ) -> None:
        self.now = now
        self.on_events = on_events
        self.on_inbound = on_inbound

    def apply(self, conn: Connection, ops: list[Arrival]) -> list[Any]:
        now = self.now()
        stored = inbound.store_messages(conn, [op.row for op in ops])
        events: list[EventRow] = []
        fresh: list[bool] = []
        learners: list[Arrival] = []
        for op in ops:
            key = (op.session_id, op.row["wa_message_id"])
            is_new = key in stored
            stored.discard(key)  # the same message twice in a batch: only the first is new
            fresh.append(is_new)
            if not is_new:
                continue
            events.append((op.tenant_id, op.session_id, "message.received", message_json(op.row)))
            if op.learns_contact:
                learners.append(op)
        if learners:
            contacts = Contacts(
                inbound.contacts_known_by(
                    conn,
                    {(op.session_id, op.phone) for op in learners if op.phone},
                    {(op.session_id, op.lid) for op in learners if op.lid},
                )
            )
            for op in learners:
                contact = contacts.remember(op, now)
                events.extend(_opt_out_or_in(op, contact, now))
            contacts.save(conn)
        append_events(conn, events, now)
        return fresh

    def committed(self, ops: list[Arrival], outcomes: list[Any]) -> None:
        if any(outcomes):
            self.on_events()
        for op, new in zip(ops, outcomes, strict=True):
            if new and not op.row["from_me"]:
                self.on_inbound(op.session_id, op.row["chat_id"], op.row["timestamp"])


def _opt_out_or_in(arrival: Arrival, contact: dict[str, Any], now: datetime) -> list[EventRow]:
    """An inbound that is exactly an opt-out keyword opts the contact out; anything else
    from an opted-out contact opts them back in (they wrote to us again)."""
    text = arrival.row["text"]
    data = {
        "chat_id": arrival.row["chat_id"],
        "phone": contact["phone"],
        "lid": f"{contact['lid']}@lid" if contact["lid"] else None,
    }
    if arrival.policy.is_opt_out(text):
        if contact["opted_out_at"] is None:
            contact["opted_out_at"] = now
            data["keyword"] = (text or "").strip()
            return [(arrival.tenant_id, arrival.session_id, "contact.opted_out", data)]
    elif contact["opted_out_at"] is not None:
        contact["opted_out_at"] = None
        return [(arrival.tenant_id, arrival.session_id, "contact.opted_in", data)]
    return []


@dataclass(slots=True)
class Receipt:
    """A delivery, read, played or failed receipt for outbound messages of one session."""

    tenant_id: str
    session_id: str
    event: ReceiptReceived
    park_unknown: bool  # keep ids no message carries yet in ``unmatched_receipts``


class ReceiptKind(BatchKind[Receipt]):
    """Receipts move messages forward in order, each with its ``message.status`` event.

    One ``UPDATE ... RETURNING`` per receipt (a receipt's time is its own), all
    in the batch's transaction; a receipt for an id that no outbound message
    carries yet is parked: its message may be one whose send answer is still
    being committed. Each op's outcome: the moved rows (seq, id, status, type...).
    """

    name = "receipt"

    def __init__(self, now: Callable[[], datetime], on_events: Callable[[], None]) -> None:
        self.now = now
        self.on_events = on_events

    def apply(self, conn: Connection, ops: list[Receipt]) -> list[Any]:
        now = self.now()
        events: list[EventRow] = []
        outcomes: list[Any] = []
        for op in ops:
            event = op.event
            moved = messages.apply_receipt(
                conn,
                session_id=op.session_id,
                wa_message_ids=event.wa_message_ids,
                status=event.status,
                at=event.timestamp,
                now=now,
                error_code=event.error_code,
                error_message=event.error_message,
            )
            for row in moved:
                data: dict[str, Any] = {
                    "message_id": row["id"],
                    "wa_message_id": row["wa_message_id"],
                    "chat_id": row["chat_id"],
                    "status": row["status"],
                    "timestamp": iso(event.timestamp),
                }
                if row["error_code"]:
                    data["error"] = {
                        "code": row["error_code"],
                        "message": row["error_message"] or "",
                    }
                events.append((op.tenant_id, op.session_id, "message.status", data))
            if op.park_unknown and len(moved) < len(event.wa_message_ids):
                moved_ids = {row["wa_message_id"] for row in moved}
                rest = [i for i in event.wa_message_ids if i not in moved_ids]
                unknown = receipts.unknown_ids(conn, op.session_id, rest)
                if unknown:
                    receipts.park(
                        conn,
                        tenant_id=op.tenant_id,
                        session_id=op.session_id,
                        wa_message_ids=sorted(unknown),
                        chat_id=event.chat_id,
                        status=event.status.value,
                        at=event.timestamp,
                        error_code=event.error_code,
                        error_message=event.error_message,
                        now=now,
                    )
            outcomes.append(moved)
        append_events(conn, events, now)
        return outcomes

    def committed(self, ops: list[Receipt], outcomes: list[Any]) -> None:
        if any(outcomes):
            self.on_events()
