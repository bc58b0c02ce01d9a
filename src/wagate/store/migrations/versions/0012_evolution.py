"""the Evolution surface: a webhook may post its events in another system's shapes
(Evolution API's), with that format's own options; an API key may be one instance's
token (scoped to its session, the key kept sealed to be shown again, as Evolution does)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("webhooks", sa.Column("format", sa.String(20), nullable=True))
    op.add_column("webhooks", sa.Column("format_options", JSON, nullable=True))
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("session_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("sealed_key", sa.Text(), nullable=True))
        batch.create_foreign_key(
            "fk_api_keys_session_id_sessions",
            "sessions",
            ["session_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_api_keys_session_id", ["session_id"])


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_session_id")
        batch.drop_constraint("fk_api_keys_session_id_sessions", type_="foreignkey")
        batch.drop_column("sealed_key")
        batch.drop_column("session_id")
    op.drop_column("webhooks", "format_options")
    op.drop_column("webhooks", "format")
