"""the audit trail: entries committed with each state change, then chained into a file

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("data", sa.String(), nullable=False),
        sa.Column("logged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_audit_entries_logged"), "audit_entries", ["logged"], unique=False)
    op.create_index(op.f("ix_audit_entries_post_id"), "audit_entries", ["post_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_entries_post_id"), table_name="audit_entries")
    op.drop_index(op.f("ix_audit_entries_logged"), table_name="audit_entries")
    op.drop_table("audit_entries")
