"""captions by a language model

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "llm_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("persona_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("llm_usage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_llm_usage_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_llm_usage_persona_id"), ["persona_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_llm_usage_post_id"), ["post_id"], unique=False)

    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alt_text", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("image_brief", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("motion_brief", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("caption_writer", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("review_flags", sa.String(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("review_flags")
        batch_op.drop_column("caption_writer")
        batch_op.drop_column("motion_brief")
        batch_op.drop_column("image_brief")
        batch_op.drop_column("alt_text")

    with op.batch_alter_table("llm_usage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_llm_usage_post_id"))
        batch_op.drop_index(batch_op.f("ix_llm_usage_persona_id"))
        batch_op.drop_index(batch_op.f("ix_llm_usage_at"))

    op.drop_table("llm_usage")
