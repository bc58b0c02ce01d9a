"""webhook formats: a webhook may post its events in another system's shapes (Evolution
API's, for clients written against it), with that format's own options

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


def downgrade() -> None:
    op.drop_column("webhooks", "format_options")
    op.drop_column("webhooks", "format")
