"""custom headers on webhooks (sealed), media inline in their bodies, and the webhook kept
in step with the environment

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("headers", sa.Text(), nullable=True))
        batch.add_column(sa.Column("managed_by", sa.String(20), nullable=True))
        batch.add_column(sa.Column("inline_media_max_bytes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("inline_media_max_bytes")
        batch.drop_column("managed_by")
        batch.drop_column("headers")
