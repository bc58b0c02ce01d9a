"""recent outbound texts by chat and time (the duplicate-text guardrail)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTBOUND_TEXT = sa.text("direction = 'out' AND type = 'text'")


def upgrade() -> None:
    op.create_index(
        "ix_messages_outbound_text_recent",
        "messages",
        ["session_id", "chat_id", "created_at"],
        unique=False,
        sqlite_where=_OUTBOUND_TEXT,
        postgresql_where=_OUTBOUND_TEXT,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_outbound_text_recent", table_name="messages")
