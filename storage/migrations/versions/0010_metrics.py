"""insights: measured metrics of posts and accounts, and the insights calls budget

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("persona_id", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("metric", sa.String(length=48), nullable=False),
        sa.Column("checkpoint", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("persona_id", "platform", "subject", "metric", "checkpoint"),
    )
    op.create_index(op.f("ix_metrics_persona_id"), "metrics", ["persona_id"], unique=False)
    op.create_index(op.f("ix_metrics_post_id"), "metrics", ["post_id"], unique=False)
    op.create_table(
        "insights_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("persona_id", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_insights_calls_at"), "insights_calls", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_insights_calls_at"), table_name="insights_calls")
    op.drop_table("insights_calls")
    op.drop_index(op.f("ix_metrics_post_id"), table_name="metrics")
    op.drop_index(op.f("ix_metrics_persona_id"), table_name="metrics")
    op.drop_table("metrics")
