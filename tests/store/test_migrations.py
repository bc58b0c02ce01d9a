"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from wagate.store import Database
from wagate.store.database import alembic_config
from wagate.store.models import Base


async def test_migrations_match_models(db: Database) -> None:
    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with db.writer.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_migrate_is_idempotent_and_records_head(db: Database) -> None:
    await db.migrate()
    await db.migrate()
    newest = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert newest is not None
    assert await db.current_revision() == newest

    async with db.writer.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {
        "tenants",
        "api_keys",
        "sessions",
        "messages",
        "contacts",
        "events",
        "webhooks",
        "dead_letters",
        "unmatched_receipts",
    } <= tables
