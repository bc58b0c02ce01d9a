"""Request deduplication: ``Idempotency-Key`` rows, and recent identical sends.

An idempotency key goes through three states (the IETF "Idempotency-Key
HTTP header" draft):

* **claimed** (in flight): the row exists with the request's hash and no
  ``message_id``. It is committed *before* the request is processed, so a
  second request with the same key meanwhile can be told so;
* **completed**: ``message_id`` is set, in the same transaction that inserts
  the message; the same key with the same body replays that message;
* **released**: the row is deleted when processing fails, so the client may
  retry with the same key.

A claim is identified by its ``created_at`` (the time it was claimed): the
completion and the release only touch the row while it still carries the
claimer's time, so a request whose claim was taken over (it looked dead)
can neither complete nor delete the newer claim.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.store.models import IdempotencyKey, Message
from wagate.store.statements import insert_for


class ClaimState(enum.Enum):
    CLAIMED = "claimed"  # ours now: process the request, then complete() or release()
    COMPLETED = "completed"  # done before with the same body: replay ``message_id``
    IN_FLIGHT = "in_flight"  # another request with this key is being processed
    REUSED = "reused"  # the key was used with a different body


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    claimed_at: datetime  # the row's created_at: our claim token when CLAIMED
    message_id: str | None = None


def _pk(session_id: str, key: str) -> Any:
    return and_(IdempotencyKey.session_id == session_id, IdempotencyKey.key == key)


async def get_key(db: AsyncSession, session_id: str, key: str) -> IdempotencyKey | None:
    query = select(IdempotencyKey).where(_pk(session_id, key))
    return (await db.scalars(query.execution_options(populate_existing=True))).first()


async def claim(
    db: AsyncSession,
    *,
    session_id: str,
    key: str,
    request_hash: str,
    now: datetime,
    ttl_s: float,
    stale_after_s: float,
) -> Claim:
    """Claim ``key`` for a request, or say why not. Commit before processing the request.

    A new key is inserted. An existing row is taken over when it has expired
    (``expires_at`` passed; the message it named keeps existing but no longer
    holds the key) or when it is an in-flight claim older than
    ``stale_after_s`` (its request's process died). Concurrent claims of the
    same key are decided by the primary key and by conditional updates: at
    most one wins.
    """
    expires_at = now + timedelta(seconds=ttl_s)
    stale_before = now - timedelta(seconds=stale_after_s)
    for _ in range(5):
        statement = (
            insert_for(db.get_bind().dialect.name)(IdempotencyKey)
            .values(
                session_id=session_id,
                key=key,
                request_hash=request_hash,
                message_id=None,
                created_at=now,
                expires_at=expires_at,
            )
            .on_conflict_do_nothing(index_elements=["session_id", "key"])
            .returning(IdempotencyKey.key)
        )
        if (await db.execute(statement)).scalar_one_or_none() is not None:
            return Claim(ClaimState.CLAIMED, now)
        row = await get_key(db, session_id, key)
        if row is None:  # released between our insert and our read: try again
            continue
        expired = row.expires_at <= now
        stale = row.message_id is None and row.created_at <= stale_before
        if expired or stale:
            if await _take_over(db, row, request_hash, now, expires_at, stale_before):
                return Claim(ClaimState.CLAIMED, now)
            continue  # someone else took it over first: look again
        if row.request_hash != request_hash:
            return Claim(ClaimState.REUSED, row.created_at, row.message_id)
        if row.message_id is None:
            return Claim(ClaimState.IN_FLIGHT, row.created_at)
        return Claim(ClaimState.COMPLETED, row.created_at, row.message_id)
    return Claim(ClaimState.IN_FLIGHT, now)


async def _take_over(
    db: AsyncSession,
    row: IdempotencyKey,
    request_hash: str,
    now: datetime,
    expires_at: datetime,
    stale_before: datetime,
) -> bool:
    old_message_id = row.message_id
    statement = (
        update(IdempotencyKey)
        .where(
            _pk(row.session_id, row.key),
            or_(
                IdempotencyKey.expires_at <= now,
                and_(
                    IdempotencyKey.message_id.is_(None),
                    IdempotencyKey.created_at <= stale_before,
                ),
            ),
        )
        .values(request_hash=request_hash, message_id=None, created_at=now, expires_at=expires_at)
        .returning(IdempotencyKey.key)
        .execution_options(synchronize_session=False)
    )
    if (await db.execute(statement)).scalar_one_or_none() is None:
        return False
    if old_message_id is not None:
        await _release_message_keys(db, [old_message_id])
    return True


async def _release_message_keys(db: AsyncSession, message_ids: list[str]) -> None:
    """The messages of expired keys stop holding them (``messages`` has a unique index on them)."""
    if not message_ids:
        return
    await db.execute(
        update(Message)
        .where(Message.id.in_(message_ids), Message.idempotency_key.is_not(None))
        .values(idempotency_key=None)
        .execution_options(synchronize_session=False)
    )


async def complete(
    db: AsyncSession,
    *,
    session_id: str,
    key: str,
    claimed_at: datetime,
    message_id: str,
    now: datetime,
    ttl_s: float,
) -> bool:
    """Record the message of our claim, in the message's transaction. False: no longer ours."""
    statement = (
        update(IdempotencyKey)
        .where(
            _pk(session_id, key),
            IdempotencyKey.message_id.is_(None),
            IdempotencyKey.created_at == claimed_at,
        )
        .values(message_id=message_id, expires_at=now + timedelta(seconds=ttl_s))
        .returning(IdempotencyKey.key)
        .execution_options(synchronize_session=False)
    )
    return (await db.execute(statement)).scalar_one_or_none() is not None


async def release(db: AsyncSession, *, session_id: str, key: str, claimed_at: datetime) -> bool:
    """Forget our in-flight claim (processing failed), so the client may retry with the key."""
    statement = (
        delete(IdempotencyKey)
        .where(
            _pk(session_id, key),
            IdempotencyKey.message_id.is_(None),
            IdempotencyKey.created_at == claimed_at,
        )
        .returning(IdempotencyKey.key)
        .execution_options(synchronize_session=False)
    )
    return (await db.execute(statement)).scalar_one_or_none() is not None


async def purge_expired(db: AsyncSession, now: datetime, *, limit: int = 10_000) -> int:
    """Delete up to ``limit`` keys whose ``expires_at`` has passed; returns how many.

    Their messages stop holding the key, so the key may be used again for a new
    message. Call it periodically; a result equal to ``limit`` means more are left.
    """
    query = (
        select(IdempotencyKey.session_id, IdempotencyKey.key, IdempotencyKey.message_id)
        .where(IdempotencyKey.expires_at <= now)
        .order_by(IdempotencyKey.expires_at)
        .limit(limit)
    )
    rows = list(await db.execute(query))
    if not rows:
        return 0
    await _release_message_keys(db, [m for _, _, m in rows if m is not None])
    purged = 0
    by_session: dict[str, list[str]] = {}
    for session_id, key, _ in rows:
        by_session.setdefault(session_id, []).append(key)
    for session_id, keys in by_session.items():
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            result = await db.execute(
                delete(IdempotencyKey)
                .where(
                    IdempotencyKey.session_id == session_id,
                    IdempotencyKey.key.in_(chunk),
                    IdempotencyKey.expires_at <= now,
                )
                .returning(IdempotencyKey.key)
                .execution_options(synchronize_session=False)
            )
            purged += len(list(result.scalars()))
    return purged


# --------------------------------------------------------------------------- same content
