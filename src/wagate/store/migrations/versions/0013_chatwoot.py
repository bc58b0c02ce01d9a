"""chatwoot: a session's Chatwoot inbox, and which Chatwoot conversation mirrors each
chat (so a restart continues it instead of opening another)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from wagate.store.types import UtcDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chatwoot_links",
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(2048), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("inbox_name", sa.String(255), nullable=False),
        sa.Column("webhook_token_hash", sa.String(64), nullable=False),
        sa.Column("sign_messages", sa.Boolean(), nullable=False),
        sa.Column("reopen_conversation", sa.Boolean(), nullable=False),
        sa.Column("conversation_pending", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_chatwoot_links"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_chatwoot_links_session_id_sessions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_chatwoot_links_tenant_id_tenants",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "chatwoot_conversations",
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "chat_id", name="pk_chatwoot_conversations"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_chatwoot_conversations_session_id_sessions",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_chatwoot_conversations_conversation",
        "chatwoot_conversations",
        ["session_id", "conversation_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_chatwoot_conversations_conversation", "chatwoot_conversations")
    op.drop_table("chatwoot_conversations")
    op.drop_table("chatwoot_links")
