"""calls that need a session's live connection, run by the worker that holds it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from wagate.store.types import JsonColumn, UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_commands",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("args", JsonColumn, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("result", JsonColumn, nullable=True),
        sa.Column("error", JsonColumn, nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("done_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_session_commands_session_id_sessions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_session_commands"),
    )
    op.create_index(
        "ix_session_commands_status_session", "session_commands", ["status", "session_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_session_commands_status_session", table_name="session_commands")
    op.drop_table("session_commands")
