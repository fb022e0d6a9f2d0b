"""feedback retry: a lease and a backoff for delivering feedback (answers.notify_*)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notify_token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("notify_after", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("notify_attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index(
            "ix_answers_notify_due",
            ["notify_after"],
            unique=False,
            sqlite_where=sa.text("notify_pending = 1"),
            postgresql_where=sa.text("notify_pending"),
        )


def downgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_index("ix_answers_notify_due")
        batch_op.drop_column("notify_attempts")
        batch_op.drop_column("notify_after")
        batch_op.drop_column("notify_token")
