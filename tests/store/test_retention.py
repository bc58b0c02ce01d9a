"""Retention: old rows and files are deleted in batches; what is still needed stays."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from tests.store.test_repositories import NOW
from tests.store.test_repositories import _session as session_in
from wagate.domain import FakeClock, new_id
from wagate.store import Database
from wagate.store.media import LocalMediaStore
from wagate.store.models import DeadLetter, Event, Message, WebhookDelivery
from wagate.store.models_engine import EngineStep
from wagate.store.repositories import messages, webhooks
from wagate.store.retention import RetentionSettings, RetentionSweeper

OLD = NOW - timedelta(days=200)
RECENT = NOW - timedelta(days=1)


async def _message(db: Database, tenant_id: str, session_id: str, status: str, at: object) -> str:
    message_id = new_id("msg")
    row = messages.message_row(
        id=message_id,
        tenant_id=tenant_id,
        session_id=session_id,
        direction="out",
        chat_id="5511988887777@s.whatsapp.net",
        chat_type="direct",
        from_me=True,
        type="text",
        text=status,
        timestamp=at,
        status=status,
        created_at=at,
        updated_at=at,
    )
    async with db.transaction() as tx:
        await tx.execute(insert(Message), [row])
    return message_id


async def _event(db: Database, tenant_id: str, at: object) -> Event:
    async with db.transaction() as tx:
        event = Event(id=new_id("evt"), tenant_id=tenant_id, type="x", data={}, created_at=at)
        tx.add(event)
        await tx.flush()
        return event


async def _delivery(db: Database, webhook_id: str, event: Event, status: str) -> None:
    async with db.transaction() as tx:
        tx.add(
            WebhookDelivery(
                id=new_id("dlv"),
                webhook_id=webhook_id,
                event_seq=event.seq,
                event_id=event.id,
                event_type=event.type,
                status=status,
                created_at=event.created_at,
                updated_at=event.created_at,
            )
        )


async def _count(db: Database, model: type) -> int:
    async with db.read() as tx:
        return int(await tx.scalar(select(func.count()).select_from(model)) or 0)


async def test_old_rows_and_their_files_go_and_what_is_still_needed_stays(
    db: Database, tmp_path: Path
) -> None:
    tenant_id, session_id = await session_in(db)
    media = LocalMediaStore(tmp_path)
    old_sent = await _message(db, tenant_id, session_id, "read", OLD)
    with_file = await _message(db, tenant_id, session_id, "sent", OLD)
    stored = await media.save(session_id, with_file, b"\xff\xd8jpeg", "image/jpeg")
    async with db.transaction() as tx:
        row = (await tx.scalars(select(Message).where(Message.id == with_file))).one()
        row.media = {"mime_type": "image/jpeg", "size": 6, "sha256": stored.sha256}
    still_queued = await _message(db, tenant_id, session_id, "queued", OLD)
    recent = await _message(db, tenant_id, session_id, "sent", RECENT)

    async with db.transaction() as tx:
        hook = await webhooks.create_webhook(
            tx,
            tenant_id=tenant_id,
            url="http://127.0.0.1:9/x",
            events=["*"],
            secret="v1:sealed",
            session_id=None,
            now=OLD,
        )
    delivered = await _event(db, tenant_id, OLD)
    await _delivery(db, hook.id, delivered, "delivered")
    still_owed = await _event(db, tenant_id, OLD)
    await _delivery(db, hook.id, still_owed, "failed")
    plain_old = [await _event(db, tenant_id, OLD) for _ in range(5)]
    fresh = await _event(db, tenant_id, RECENT)
    async with db.transaction() as tx:
        for at in (OLD, OLD, OLD, RECENT):
            tx.add(DeadLetter(source="test", reason="x", payload={}, created_at=at))
            tx.add(
                EngineStep(
                    tenant_id=tenant_id,
                    session_id=session_id,
                    chat_id="c",
                    kind="buffered",
                    data={},
                    created_at=at,
                )
            )

    settings = RetentionSettings(
        events_days=30, deliveries_days=30, dead_letters_days=30, messages_days=180
    )
    sweeper = RetentionSweeper(db, media, FakeClock(NOW), settings, batch=2)  # batches of 2
    result = await sweeper.sweep()

    assert result.deleted == {
        "deliveries": 1,  # the delivered one; the failed one is still owed
        "events": 6,  # all old ones but the one still owed
        "dead_letters": 3,
        "engine_steps": 3,
        "logins": 0,
        "workers": 0,
        "session_commands": 0,
        "messages": 2,  # not the queued one, not the recent one
    }
    assert result.files_removed == 1
    assert await media.read(session_id, with_file, "image/jpeg") is None
    async with db.read() as tx:
        left = set(await tx.scalars(select(Message.id)))
        events_left = set(await tx.scalars(select(Event.seq)))
    assert left == {still_queued, recent}
    assert old_sent not in left
    assert events_left == {still_owed.seq, fresh.seq}
    assert not {e.seq for e in plain_old} & events_left
    assert await _count(db, WebhookDelivery) == 1
    assert await _count(db, DeadLetter) == 1
    assert await _count(db, EngineStep) == 1
    assert (await sweeper.sweep()).deleted == dict.fromkeys(result.deleted, 0)  # idempotent


async def test_zero_days_keeps_everything(db: Database, tmp_path: Path) -> None:
    tenant_id, session_id = await session_in(db)
    await _message(db, tenant_id, session_id, "read", OLD)
    await _event(db, tenant_id, OLD)
    keep = RetentionSettings(
        events_days=0,
        deliveries_days=0,
        dead_letters_days=0,
        engine_steps_days=0,
        messages_days=0,
        ended_logins_days=0,
        silent_workers_days=0,
        session_commands_days=0,
    )
    result = await RetentionSweeper(db, LocalMediaStore(tmp_path), FakeClock(NOW), keep).sweep()
    assert set(result.deleted.values()) == {0}
    assert await _count(db, Message) == 1
    assert await _count(db, Event) == 1


async def test_ended_logins_and_silent_workers_go_after_a_week(
    db: Database, tmp_path: Path
) -> None:
    from wagate.domain import Role
    from wagate.store.models import Login, Worker
    from wagate.store.repositories import users, workers

    async with db.transaction() as tx:
        user = await users.create_user(
            tx, email="a@x.test", password_hash="h", role=Role.ADMIN, tenant_id=None, now=OLD
        )
        day = timedelta(days=1)
        logins = {}
        for name, created, ttl in [
            ("active", RECENT, 30 * day),
            ("expired long ago", OLD, day),
            ("logged out long ago", NOW - 20 * day, 30 * day),
            ("logged out lately", NOW - 2 * day, 30 * day),
        ]:
            login, _ = await users.create_login(
                tx, user, kind="api", now=created, ttl=ttl, address=None, user_agent=None
            )
            logins[name] = login.id
        await users.revoke_login(tx, logins["logged out long ago"], NOW - 10 * day)
        await users.revoke_login(tx, logins["logged out lately"], NOW - day)
        for worker_id, heard in (("gone", NOW - 10 * day), ("here", RECENT)):
            report = workers.WorkerReport(worker_id, "host", 1, "0", 10, OLD, 0.0)
            await workers.heartbeat(tx, report, heard)

    result = await RetentionSweeper(
        db, LocalMediaStore(tmp_path), FakeClock(NOW), RetentionSettings()
    ).sweep()
    assert result.deleted["logins"] == 2
    assert result.deleted["workers"] == 1
    async with db.read() as tx:
        left = set(await tx.scalars(select(Login.id)))
        fleet = set(await tx.scalars(select(Worker.id)))
    assert left == {logins["active"], logins["logged out lately"]}
    assert fleet == {"here"}
