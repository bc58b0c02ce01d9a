"""Repositories on SQLite and PostgreSQL: identities, inbound dedupe, receipts, scoping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from wagate.domain import (
    ChatType,
    DesiredState,
    Direction,
    InboundMessage,
    MessageStatus,
    MessageType,
    NotFound,
    new_id,
)
from wagate.store import Database
from wagate.store.models import Message
from wagate.store.repositories import contacts, messages, sessions, tenants
from wagate.store.repositories.inbound import store_messages

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


async def _session(db: Database, tenant: str = "t1", name: str = "s") -> tuple[str, str]:
    async with db.transaction() as tx:
        owner = await tenants.ensure_tenant(tx, tenant, NOW)
        row = await sessions.create_session(
            tx,
            tenant_id=owner.id,
            name=name,
            transport="simulator",
            config={},
            proxy_url=None,
            priority=0,
            desired=DesiredState.STOPPED,
            now=NOW,
        )
        return owner.id, row.id


def _inbound(wa_id: str) -> InboundMessage:
    return InboundMessage(
        wa_message_id=wa_id,
        chat_id="5511@s.whatsapp.net",
        chat_type=ChatType.DIRECT,
        sender="5511@s.whatsapp.net",
        type=MessageType.TEXT,
        text="hi",
        timestamp=NOW,
    )


def _row(
    tenant_id: str, session_id: str, inbound: InboundMessage, media: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An inbound message's row as the recorder builds it (NUL characters dropped)."""
    return messages.strip_nul(
        messages.inbound_row(
            message_id=new_id("msg"),
            tenant_id=tenant_id,
            session_id=session_id,
            inbound=inbound,
            media=media,
            now=NOW,
        )
    )


async def test_inbound_is_stored_once(db: Database) -> None:
    tenant_id, session_id = await _session(db)
    results = []
    for _ in range(2):
        row = _row(tenant_id, session_id, _inbound("W1"))
        results.append(await db.run_batch(lambda conn, row=row: store_messages(conn, [row])))
    assert results == [{(session_id, "W1")}, set()]
    async with db.read() as tx:
        page, cursor = await messages.list_messages(tx, session_id=session_id)
    assert [m.wa_message_id for m in page] == ["W1"]
    assert cursor is None
    assert page[0].timestamp == NOW


async def test_receipts_never_move_backwards(db: Database) -> None:
    tenant_id, session_id = await _session(db)
    async with db.transaction() as tx:
        await messages.add_outbound(
            tx,
            Message(
                id=new_id("msg"),
                tenant_id=tenant_id,
                session_id=session_id,
                direction=Direction.OUT.value,
                wa_message_id="W2",
                chat_id="x",
                chat_type="direct",
                from_me=True,
                type="text",
                text="t",
                timestamp=NOW,
                status=MessageStatus.SENT.value,
                attempts=1,
                created_at=NOW,
                updated_at=NOW,
            ),
        )

    async def receipt(status: MessageStatus) -> list[str]:
        moved = await db.run_batch(
            lambda conn: messages.apply_receipt(
                conn, session_id=session_id, wa_message_ids=["W2"], status=status, at=NOW, now=NOW
            )
        )
        return [m["status"] for m in moved]

    assert await receipt(MessageStatus.READ) == ["read"]
    assert await receipt(MessageStatus.DELIVERED) == []
    assert await receipt(MessageStatus.READ) == []
    assert await receipt(MessageStatus.PLAYED) == ["played"]
    async with db.read() as tx:
        row = await messages.find_by_wa_id(tx, session_id, "W2")
    assert row is not None
    assert row.status == "played"
    assert row.delivered_at == NOW
    assert row.read_at == NOW


async def test_one_identity_across_phone_and_lid(db: Database) -> None:
    _, session_id = await _session(db)
    async with db.transaction() as tx:
        await contacts.remember_contact(
            tx, session_id, phone=None, lid="900", push_name="Ana", now=NOW
        )
        await contacts.remember_contact(
            tx, session_id, phone="5511", lid=None, push_name=None, now=NOW
        )
    async with db.transaction() as tx:
        merged = await contacts.remember_contact(
            tx, session_id, phone="5511", lid="900", push_name=None, now=NOW
        )
    assert merged is not None
    async with db.read() as tx:
        rows = await contacts.list_contacts(tx, session_id)
        assert await contacts.phone_for_lid(tx, session_id, "900") == "5511"
    assert [(c.phone, c.lid) for c in rows] == [("5511", "900")]


async def test_sessions_are_scoped_by_tenant(db: Database) -> None:
    t1, s1 = await _session(db, "t1", "same")
    t2, s2 = await _session(db, "t2", "same")
    async with db.read() as tx:
        assert (await sessions.get_session(tx, "same", t1)).id == s1
        assert (await sessions.get_session(tx, "same", t2)).id == s2
        assert (await sessions.get_session(tx, s2, None)).id == s2
        with pytest.raises(NotFound):
            await sessions.get_session(tx, s1, t2)
        with pytest.raises(NotFound, match="ambiguous"):
            await sessions.get_session(tx, "same", None)
        assert [s.id for s in await sessions.list_sessions(tx, t1)] == [s1]


async def test_api_keys_hashed_and_revocable(db: Database) -> None:
    async with db.transaction() as tx:
        owner = await tenants.create_tenant(tx, "acme", NOW)
        key, plaintext = await tenants.create_api_key(tx, owner.id, "ci", NOW)
    assert plaintext.startswith("wgk_")
    assert key.key_hash != plaintext
    async with db.read() as tx:
        found = await tenants.find_active_key(tx, plaintext)
    assert found is not None
    assert found.id == key.id
    async with db.transaction() as tx:
        await tenants.revoke_api_key(tx, key.id, NOW)
    async with db.read() as tx:
        assert await tenants.find_active_key(tx, plaintext) is None


async def test_nul_characters_from_engines_are_dropped(db: Database) -> None:
    tenant_id, session_id = await _session(db)
    message = _inbound("W3").model_copy(update={"text": "a\x00b", "push_name": "\x00Ana"})
    values = _row(tenant_id, session_id, message, media={"file_name": "x\x00.pdf"})
    await db.run_batch(lambda conn: store_messages(conn, [values]))
    async with db.read() as tx:
        row = await messages.find_by_wa_id(tx, session_id, "W3")
    assert row is not None
    assert (row.text, row.push_name, row.media) == ("ab", "Ana", {"file_name": "x.pdf"})
