"""chatwoot_messages: which Chatwoot message shows each message sent on WhatsApp, so
its delivered, read and failed ticks reach Chatwoot; and the name wagate last gave each
chat's Chatwoot contact, so a push name can replace a placeholder but not an agent's edit

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from wagate.store.types import UtcDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "chatwoot_conversations", sa.Column("contact_name", sa.String(255), nullable=True)
    )
    op.create_table(
        "chatwoot_messages",
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("chatwoot_message_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "message_id", name="pk_chatwoot_messages"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_chatwoot_messages_session_id_sessions",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("chatwoot_messages")
    with op.batch_alter_table("chatwoot_conversations") as batch:
        batch.drop_column("contact_name")
