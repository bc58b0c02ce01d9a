"""a session quota per tenant; sessions by name (the Evolution ingest lookup)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("max_sessions", sa.Integer(), nullable=True))
    op.create_index("ix_sessions_name", "sessions", ["name"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sessions_name", table_name="sessions")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("max_sessions")
