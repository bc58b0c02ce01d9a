"""Contacts: one identity per person per session, known by phone number, @lid or both."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.domain import new_id
from wagate.store.models import Contact


async def find_contact(
    db: AsyncSession, session_id: str, *, phone: str | None = None, lid: str | None = None
) -> Contact | None:
    clauses = []
    if phone:
        clauses.append(Contact.phone == phone)
    if lid:
        clauses.append(Contact.lid == lid)
    if not clauses:
        return None
    rows = list(
        await db.scalars(select(Contact).where(Contact.session_id == session_id, or_(*clauses)))
    )
    return rows[0] if rows else None


async def remember_contact(
    db: AsyncSession,
    session_id: str,
    *,
    phone: str | None,
    lid: str | None,
    push_name: str | None,
    now: datetime,
    inbound: bool = False,
) -> Contact | None:
    """Record what we learned about a person, merging phone and @lid into one identity.

    When the phone and the lid were first seen as two separate contacts, the
    lid-only row is folded into the phone row.
    """
    if not phone and not lid:
        return None
    by_phone = await find_contact(db, session_id, phone=phone) if phone else None
    by_lid = await find_contact(db, session_id, lid=lid) if lid else None
    contact = by_phone or by_lid
    if by_phone is not None and by_lid is not None and by_phone.id != by_lid.id:
        contact = by_phone
        contact.opted_out_at = contact.opted_out_at or by_lid.opted_out_at
        contact.blocked_at = contact.blocked_at or by_lid.blocked_at
        await db.delete(by_lid)
        await db.flush()
    if contact is None:
        contact = Contact(id=new_id("con"), session_id=session_id, created_at=now, updated_at=now)
        db.add(contact)
    if phone:
        contact.phone = phone
    if lid:
        contact.lid = lid
    if push_name:
        contact.push_name = push_name
    if inbound:
        contact.last_inbound_at = now
    contact.updated_at = now
    await db.flush()
    return contact


async def phone_for_lid(db: AsyncSession, session_id: str, lid: str) -> str | None:
    contact = await find_contact(db, session_id, lid=lid)
    return contact.phone if contact else None


async def list_contacts(db: AsyncSession, session_id: str, limit: int = 500) -> list[Contact]:
    query = (
        select(Contact)
        .where(Contact.session_id == session_id)
        .order_by(Contact.created_at, Contact.id)
        .limit(limit)
    )
    return list(await db.scalars(query))


async def search_contacts(
    db: AsyncSession, session_id: str, *, query: str | None, limit: int, after: str | None
) -> list[Contact]:
    """The session's contacts in the order wagate met them, after the contact ``after``
    (a cursor); ``query`` matches part of the name (any case), phone number or @lid."""
    statement = select(Contact).where(Contact.session_id == session_id)
    if query:
        pattern = f"%{_escape_like(query)}%"
        clauses = [func.lower(Contact.push_name).like(pattern.lower(), escape="\\")]
        digits = "".join(ch for ch in query if ch.isdigit())
        if digits:
            clauses += [Contact.phone.like(f"%{digits}%"), Contact.lid.like(f"%{digits}%")]
        statement = statement.where(or_(*clauses))
    if after:
        statement = statement.where(Contact.id > after)
    return list(await db.scalars(statement.order_by(Contact.id).limit(limit)))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def set_blocked(
    db: AsyncSession, session_id: str, phone: str, blocked_at: datetime | None, now: datetime
) -> Contact:
    """Record that the session blocked (or unblocked) a phone number, met or not."""
    contact = await find_contact(db, session_id, phone=phone)
    if contact is None:
        contact = Contact(
            id=new_id("con"), session_id=session_id, phone=phone, created_at=now, updated_at=now
        )
        db.add(contact)
    contact.blocked_at, contact.updated_at = blocked_at, now
    await db.flush()
    return contact
