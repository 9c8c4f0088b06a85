"""several platforms per persona: one publication per approved post and platform, caption
variants, account states per platform

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every publisher before this revision posted to Instagram.
_BEFORE = "instagram"


def upgrade() -> None:
    op.create_table(
        "publications",
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("publisher", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("remote_id", sa.String(length=200), nullable=True),
        sa.Column("permalink", sa.String(length=500), nullable=True),
        sa.Column("ai_flag", sa.String(length=200), nullable=True),
        sa.Column("note", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"]),
        sa.PrimaryKeyConstraint("post_id", "platform"),
    )
    op.create_index(op.f("ix_publications_status"), "publications", ["status"], unique=False)
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("caption_variants", sa.String(), nullable=True))
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variants_sha256", sa.String(length=64), nullable=True))
    with op.batch_alter_table("publish_attempts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("platform", sa.String(length=32), nullable=False, server_default=_BEFORE)
        )
    with op.batch_alter_table("publish_attempts", schema=None) as batch_op:
        batch_op.alter_column("platform", server_default=None)
    # A held or cooling account stays so: its row moves over with its platform.
    op.create_table(
        "account_states_new",
        sa.Column("persona_id", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("persona_id", "platform"),
    )
    op.execute(
        "INSERT INTO account_states_new (persona_id, platform, state, until, reason, updated_at) "
        f"SELECT persona_id, '{_BEFORE}', state, until, reason, updated_at FROM account_states"
    )
    op.drop_table("account_states")
    op.rename_table("account_states_new", "account_states")
    # Posts already past approval get the one publication they had, from their latest attempt.
    op.execute(
        f"""
        INSERT INTO publications (post_id, platform, publisher, status, remote_id, permalink, updated_at)
        SELECT p.id, '{_BEFORE}', COALESCE(a.publisher, 'outbox'),
               CASE p.status WHEN 'published' THEN 'published' WHEN 'publishing' THEN 'publishing'
                             ELSE 'needs_reconcile' END,
               a.remote_id, a.permalink, p.updated_at
        FROM posts p LEFT JOIN publish_attempts a ON a.id = (
            SELECT b.id FROM publish_attempts b WHERE b.post_id = p.id ORDER BY b.started_at DESC LIMIT 1)
        WHERE p.status IN ('published', 'publishing', 'needs_reconcile')
        """
    )


def downgrade() -> None:
    op.create_table(
        "account_states_old",
        sa.Column("persona_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("persona_id"),
    )
    op.execute(
        "INSERT INTO account_states_old (persona_id, state, until, reason, updated_at) "
        "SELECT persona_id, state, until, reason, updated_at FROM account_states "
        f"WHERE platform = '{_BEFORE}'"
    )
    op.drop_table("account_states")
    op.rename_table("account_states_old", "account_states")
    with op.batch_alter_table("publish_attempts", schema=None) as batch_op:
        batch_op.drop_column("platform")
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_column("variants_sha256")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("caption_variants")
    op.drop_index(op.f("ix_publications_status"), table_name="publications")
    op.drop_table("publications")
