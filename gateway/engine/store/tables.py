"""The store's tables as data: one `MetaData`, shared by the queries and checked against the migrations.

`seq` (an autoincrementing integer key) orders lists: `created_at` has one-second ties. Nested OpenAI
fields live in JSON columns; `replay` columns hold what the engine resends to MiniMax and never shows.

Files and vector stores: a file's bytes are `file_parts` rows (`PART_BYTES` each, written as the upload
arrives); a file in a vector store is a `vector_store_files` row, leased while it is ingested, and its
chunks are `vector_store_chunks` rows. The keyword index over the chunks' `search_text` is the
database's own (`search_index`: an FTS5 table on SQLite, a GIN-indexed stored tsvector on PostgreSQL),
made by the migrations and kept outside this `MetaData` because it differs by database.
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
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from gateway.schemas.status import RUN_ACTIVE, in_order

ACTIVE_RUN_STATUSES: Final = tuple(str(s) for s in in_order(RUN_ACTIVE))
"""At most one run per thread in these (the `runs_one_active_per_thread` index)."""

_ACTIVE_SQL: Final = "status IN ({})".format(", ".join(f"'{s}'" for s in ACTIVE_RUN_STATUSES))

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


PART_BYTES: Final = 1 << 20
"""A stored file part's size: an upload is written one part at a time, never held whole."""

files = Table(
    "files",
    metadata,
    _seq(),
    _id(),
    _tenant(),
    Column("created_at", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("filename", Text, nullable=False),
    Column("purpose", String(32), nullable=False),
    # `uploading` while the parts arrive (invisible to every read), then `processed`.
    Column("status", String(16), nullable=False),
    Column("expires_at", BigInteger),
    Index("files_tenant_seq", "tenant", "seq"),
    Index("files_expires_at", "expires_at"),
    sqlite_autoincrement=True,
)

file_parts = Table(
    "file_parts",
    metadata,
    Column("file_id", String(64), ForeignKey("files.id", ondelete="CASCADE"), primary_key=True),
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

vector_stores = Table(
    "vector_stores",
    metadata,
    _seq(),
    _id(),
    _tenant(),
    Column("created_at", BigInteger, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("metadata", JSON, nullable=False),
    Column("expires_after", JSON),
    Column("expires_at", BigInteger),
    Column("last_active_at", BigInteger, nullable=False),
    Column("expired", Boolean, nullable=False),
    # Moves on whenever the store's chunks change: an in-process copy of its embeddings is keyed by it.
    Column("generation", BigInteger, nullable=False),
    Index("vector_stores_tenant_seq", "tenant", "seq"),
    Index("vector_stores_expires_at", "expires_at"),
    sqlite_autoincrement=True,
)

INGEST_STATUSES: Final = ("in_progress", "completed", "cancelled", "failed")

vector_store_files = Table(
    "vector_store_files",
    metadata,
    _seq(),
    Column("id", String(64), ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    _tenant(),
    Column(
        "vector_store_id",
        String(64),
        ForeignKey("vector_stores.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("batch_id", String(64)),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("last_error", JSON),
    Column("usage_bytes", BigInteger, nullable=False),
    Column("attributes", JSON),
    Column("chunking_strategy", JSON, nullable=False),
    Column("lease_owner", String(128)),
    Column("lease_until", Float),
    Column("attempts", Integer, nullable=False),
    UniqueConstraint("vector_store_id", "id", name="vector_store_files_store_file"),
    Index("vector_store_files_store_seq", "vector_store_id", "seq"),
    Index("vector_store_files_batch", "batch_id"),
    Index("vector_store_files_file", "id"),
    Index("vector_store_files_status_lease", "status", "lease_until"),
    sqlite_autoincrement=True,
)

vector_store_file_batches = Table(
    "vector_store_file_batches",
    metadata,
    _seq(),
    _id(),
    _tenant(),
    Column(
        "vector_store_id",
        String(64),
        ForeignKey("vector_stores.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", BigInteger, nullable=False),
    Column("cancelled", Boolean, nullable=False),
    sqlite_autoincrement=True,
)

vector_store_chunks = Table(
    "vector_store_chunks",
    metadata,
    _seq(),
    Column(
        "store_file_seq",
        Seq,
        ForeignKey("vector_store_files.seq", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("vector_store_id", String(64), nullable=False),
    Column("file_id", String(64), nullable=False),
    Column("chunk_index", Integer, nullable=False),
    Column("text", Text, nullable=False),
    # The text as the keyword index reads it (`retrieval.analyze.index_text`: CJK runs as bigrams).
    Column("search_text", Text, nullable=False),
    # float32 little-endian, L2-normalised; present when an embeddings endpoint is configured.
    Column("embedding", LargeBinary),
    Index("vector_store_chunks_file", "store_file_seq", "chunk_index"),
    Index("vector_store_chunks_store", "vector_store_id"),
    sqlite_autoincrement=True,
)

code_sessions = Table(
    "code_sessions",
    metadata,
    # One per thread that ran code: where its session lives (`CodeSessions.location`: a process of
    # this gateway, or a sandbox server) and when it was last used, so that any replica can tell a
    # session it cannot reach, or one that expired, from none at all.
    Column("thread_id", String(64), ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True),
    _tenant(),
    Column("location", Text, nullable=False),
    Column("used_at", BigInteger, nullable=False),
)
