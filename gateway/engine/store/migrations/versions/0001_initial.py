"""Initial schema: assistants, threads, messages, runs, run_steps, tool_results.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE = "status IN ('queued', 'in_progress', 'requires_action', 'cancelling')"


def _seq() -> sa.Column[int]:
    return sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
    )


def _keys(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.PrimaryKeyConstraint("seq", name=f"pk_{table}"),
        sa.UniqueConstraint("id", name=f"uq_{table}_id"),
    ]


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(64), nullable=False)


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant", sa.String(128), nullable=False)


def _thread_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["thread_id"], ["threads.id"], name=f"fk_{table}_thread_id", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "assistants",
        _seq(),
        _id(),
        _tenant(),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("name", sa.Text()),
        sa.Column("description", sa.Text()),
        sa.Column("instructions", sa.Text()),
        sa.Column("tools", sa.JSON(), nullable=False),
        sa.Column("tool_resources", sa.JSON()),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("temperature", sa.Float()),
        sa.Column("top_p", sa.Float()),
        sa.Column("response_format", sa.JSON()),
        *_keys("assistants"),
        sqlite_autoincrement=True,
    )
    op.create_index("assistants_tenant_seq", "assistants", ["tenant", "seq"])

    op.create_table(
        "threads",
        _seq(),
        _id(),
        _tenant(),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("tool_resources", sa.JSON()),
        *_keys("threads"),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "messages",
        _seq(),
        _id(),
        _tenant(),
        sa.Column("thread_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("assistant_id", sa.String(64)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("completed_at", sa.BigInteger()),
        sa.Column("incomplete_at", sa.BigInteger()),
        sa.Column("incomplete_details", sa.JSON()),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("replay", sa.JSON()),
        *_keys("messages"),
        _thread_fk("messages"),
        sqlite_autoincrement=True,
    )
    op.create_index("messages_thread_seq", "messages", ["thread_id", "seq"])
    op.create_index("messages_run", "messages", ["run_id"])

    op.create_table(
        "runs",
        _seq(),
        _id(),
        _tenant(),
        sa.Column("thread_id", sa.String(64), nullable=False),
        sa.Column("assistant_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.BigInteger()),
        sa.Column("expires_at", sa.BigInteger()),
        sa.Column("cancelled_at", sa.BigInteger()),
        sa.Column("failed_at", sa.BigInteger()),
        sa.Column("completed_at", sa.BigInteger()),
        sa.Column("required_action", sa.JSON()),
        sa.Column("last_error", sa.JSON()),
        sa.Column("incomplete_details", sa.JSON()),
        sa.Column("usage", sa.JSON()),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("tools", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("temperature", sa.Float()),
        sa.Column("top_p", sa.Float()),
        sa.Column("max_prompt_tokens", sa.Integer()),
        sa.Column("max_completion_tokens", sa.Integer()),
        sa.Column("truncation_strategy", sa.JSON(), nullable=False),
        sa.Column("response_format", sa.JSON()),
        sa.Column("tool_choice", sa.JSON()),
        sa.Column("parallel_tool_calls", sa.Boolean(), nullable=False),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_until", sa.Float()),
        *_keys("runs"),
        _thread_fk("runs"),
        sqlite_autoincrement=True,
    )
    op.create_index("runs_thread_seq", "runs", ["thread_id", "seq"])
    op.create_index("runs_status_lease", "runs", ["status", "lease_until"])
    op.create_index(
        "runs_one_active_per_thread",
        "runs",
        ["thread_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )

    op.create_table(
        "run_steps",
        _seq(),
        _id(),
        _tenant(),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("thread_id", sa.String(64), nullable=False),
        sa.Column("assistant_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cancelled_at", sa.BigInteger()),
        sa.Column("completed_at", sa.BigInteger()),
        sa.Column("expired_at", sa.BigInteger()),
        sa.Column("failed_at", sa.BigInteger()),
        sa.Column("last_error", sa.JSON()),
        sa.Column("step_details", sa.JSON(), nullable=False),
        sa.Column("usage", sa.JSON()),
        sa.Column("metadata", sa.JSON()),
        sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
        sa.Column("replay", sa.JSON()),
        *_keys("run_steps"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_steps_run_id", ondelete="CASCADE"),
        sqlite_autoincrement=True,
    )
    op.create_index("run_steps_run_seq", "run_steps", ["run_id", "seq"])
    op.create_index("run_steps_thread_anchor", "run_steps", ["thread_id", "anchor_seq"])

    op.create_table(
        "tool_results",
        _seq(),
        _tenant(),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("thread_id", sa.String(64), nullable=False),
        sa.Column("tool_call_id", sa.String(128), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_tool_results"),
        sa.UniqueConstraint("run_id", "tool_call_id", name="tool_results_run_call"),
        sa.ForeignKeyConstraint(
            ["step_id"], ["run_steps.id"], name="fk_tool_results_step_id", ondelete="CASCADE"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("tool_results_thread_seq", "tool_results", ["thread_id", "seq"])


def downgrade() -> None:
    for table in ("tool_results", "run_steps", "runs", "messages", "threads", "assistants"):
        op.drop_table(table)
