"""code_interpreter: where each thread's code session lives and when it was last used.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "code_sessions",
        sa.Column("thread_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("thread_id", name="pk_code_sessions"),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.id"], name="fk_code_sessions_thread_id", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("code_sessions")
