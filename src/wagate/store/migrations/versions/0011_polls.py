"""polls: the poll a message carries (question, options, tallies) and each person's vote;
when the session blocked a contact; a voice note's transcript

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from wagate.store.types import UtcDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("messages", sa.Column("poll", JSON, nullable=True))
    op.add_column("contacts", sa.Column("blocked_at", UtcDateTime(), nullable=True))
    op.add_column("messages", sa.Column("transcript", sa.Text(), nullable=True))
    op.create_table(
        "poll_votes",
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("voter", sa.String(128), nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("voted_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", "voter", name="pk_poll_votes"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_poll_votes_message_id_messages",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("poll_votes")
    op.drop_column("messages", "transcript")
    op.drop_column("contacts", "blocked_at")
    op.drop_column("messages", "poll")
