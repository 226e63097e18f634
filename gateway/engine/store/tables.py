"""The store's tables as data: one `MetaData`, shared by the queries and checked against the migrations.

`seq` (an autoincrementing integer key) orders lists: `created_at` has one-second ties. Nested OpenAI
fields live in JSON columns; `replay` columns hold what the engine resends to MiniMax and never shows.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

ACTIVE_RUN_STATUSES: Final = ("queued", "in_progress", "requires_action", "cancelling")
"""At most one run per thread in these (the `runs_one_active_per_thread` index)."""

_ACTIVE_SQL: Final = "status IN ('queued', 'in_progress', 'requires_action', 'cancelling')"

metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    }
)

Seq = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER PRIMARY KEY


def _seq() -> Column[int]:
    return Column("seq", Seq, primary_key=True, autoincrement=True)


def _id() -> Column[str]:
    return Column("id", String(64), nullable=False, unique=True)


def _tenant() -> Column[str]:
    return Column("tenant", String(128), nullable=False)


def _thread_fk() -> Column[str]:
    return Column("thread_id", String(64), ForeignKey("threads.id", ondelete="CASCADE"), nullable=False)


assistants = Table(
    "assistants",
    metadata,
    _seq(),
    _id(),
    _tenant(),
    Column("created_at", BigInteger, nullable=False),
    Column("model", String(256), nullable=False),
    Column("name", Text),
    Column("description", Text),
    Column("instructions", Text),
    Column("tools", JSON, nullable=False),
    Column("tool_resources", JSON),
    Column("metadata", JSON, nullable=False),
    Column("temperature", Float),
    Column("top_p", Float),
    Column("response_format", JSON),
    Index("assistants_tenant_seq", "tenant", "seq"),
    sqlite_autoincrement=True,
)

threads = Table(
    "threads",
    metadata,
    _seq(),
    _id(),
    _tenant(),
    Column("created_at", BigInteger, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("tool_resources", JSON),
    sqlite_autoincrement=True,
)

messages = Table(
    "messages",
    metadata,
    _seq(),
    _id(),
    _tenant(),
    _thread_fk(),
    Column("created_at", BigInteger, nullable=False),
    Column("role", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("content", JSON, nullable=False),
    Column("assistant_id", String(64)),
    Column("run_id", String(64)),
    Column("attachments", JSON, nullable=False),
    Column("completed_at", BigInteger),
    Column("incomplete_at", BigInteger),
    Column("incomplete_details", JSON),
    Column("metadata", JSON, nullable=False),
    Column("replay", JSON),
    Index("messages_thread_seq", "thread_id", "seq"),
    Index("messages_run", "run_id"),
    sqlite_autoincrement=True,
)

runs = Table(
    "runs",
    metadata,
    _seq(),
    _id(),
    _tenant(),
    _thread_fk(),
    Column("assistant_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", BigInteger),
    Column("expires_at", BigInteger),
    Column("cancelled_at", BigInteger),
    Column("failed_at", BigInteger),
    Column("completed_at", BigInteger),
    Column("required_action", JSON),
    Column("last_error", JSON),
    Column("incomplete_details", JSON),
    Column("usage", JSON),
    Column("model", String(256), nullable=False),
    Column("instructions", Text, nullable=False),
    Column("tools", JSON, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("temperature", Float),
    Column("top_p", Float),
    Column("max_prompt_tokens", Integer),
    Column("max_completion_tokens", Integer),
    Column("truncation_strategy", JSON, nullable=False),
    Column("response_format", JSON),
    Column("tool_choice", JSON),
    Column("parallel_tool_calls", Boolean, nullable=False),
    Column("lease_owner", String(128)),
    Column("lease_until", Float),
    Index("runs_thread_seq", "thread_id", "seq"),
    Index("runs_status_lease", "status", "lease_until"),
    Index(
        "runs_one_active_per_thread",
        "thread_id",
        unique=True,
        sqlite_where=text(_ACTIVE_SQL),
        postgresql_where=text(_ACTIVE_SQL),
    ),
    sqlite_autoincrement=True,
)

run_steps = Table(
    "run_steps",
    metadata,
    _seq(),
    _id(),
    _tenant(),
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("thread_id", String(64), nullable=False),
    Column("assistant_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("cancelled_at", BigInteger),
    Column("completed_at", BigInteger),
    Column("expired_at", BigInteger),
    Column("failed_at", BigInteger),
    Column("last_error", JSON),
    Column("step_details", JSON, nullable=False),
    Column("usage", JSON),
    Column("metadata", JSON),
    # Position in the thread's history: the highest message seq when the step was created.
    Column("anchor_seq", BigInteger, nullable=False),
    Column("replay", JSON),
    Index("run_steps_run_seq", "run_id", "seq"),
    Index("run_steps_thread_anchor", "thread_id", "anchor_seq"),
    sqlite_autoincrement=True,
)

tool_results = Table(
    "tool_results",
    metadata,
    _seq(),
    _tenant(),
    Column("step_id", String(64), ForeignKey("run_steps.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("thread_id", String(64), nullable=False),
    Column("tool_call_id", String(128), nullable=False),
    Column("output", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("run_id", "tool_call_id", name="tool_results_run_call"),
    Index("tool_results_thread_seq", "thread_id", "seq"),
    sqlite_autoincrement=True,
)
