"""web UI: reviewers, sessions, media regeneration

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_name"], ["web_users.name"]),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    op.create_index("ix_web_sessions_user_name", "web_sessions", ["user_name"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("keep_caption", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("ix_posts_status_persona_slot", "posts", ["status", "persona_id", "slot_utc"])


def downgrade() -> None:
    op.drop_index("ix_posts_status_persona_slot", table_name="posts")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("keep_caption")
    op.drop_index("ix_web_sessions_expires_at", table_name="web_sessions")
    op.drop_index("ix_web_sessions_user_name", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("web_users")
