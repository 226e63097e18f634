"""Files and vector stores: files and their parts, vector stores, their files, batches and chunks, and
the database's own keyword index over the chunks (FTS5 on SQLite; on PostgreSQL a stored tsvector column
and a GIN index on it).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _seq() -> sa.Column[int]:
    return sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
    )


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(64), nullable=False)


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant", sa.String(128), nullable=False)


def _keys(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.PrimaryKeyConstraint("seq", name=f"pk_{table}"),
        sa.UniqueConstraint("id", name=f"uq_{table}_id"),
    ]


def _store_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["vector_store_id"], ["vector_stores.id"], name=f"fk_{table}_vector_store_id", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "files",
        _seq(),
        _id(),
        _tenant(),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.BigInteger()),
        *_keys("files"),
        sqlite_autoincrement=True,
    )
    op.create_index("files_tenant_seq", "files", ["tenant", "seq"])
    op.create_index("files_expires_at", "files", ["expires_at"])

    op.create_table(
        "file_parts",
        sa.Column("file_id", sa.String(64), nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("file_id", "part", name="pk_file_parts"),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], name="fk_file_parts_file_id", ondelete="CASCADE"),
    )

    op.create_table(
        "vector_stores",
        _seq(),
        _id(),
        _tenant(),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("expires_after", sa.JSON()),
        sa.Column("expires_at", sa.BigInteger()),
        sa.Column("last_active_at", sa.BigInteger(), nullable=False),
        sa.Column("expired", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        *_keys("vector_stores"),
        sqlite_autoincrement=True,
    )
    op.create_index("vector_stores_tenant_seq", "vector_stores", ["tenant", "seq"])
    op.create_index("vector_stores_expires_at", "vector_stores", ["expires_at"])

    op.create_table(
        "vector_store_files",
        _seq(),
        _id(),
        _tenant(),
        sa.Column("vector_store_id", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(64)),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.JSON()),
        sa.Column("usage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("attributes", sa.JSON()),
        sa.Column("chunking_strategy", sa.JSON(), nullable=False),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_until", sa.Float()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_vector_store_files"),
        sa.UniqueConstraint("vector_store_id", "id", name="vector_store_files_store_file"),
        sa.ForeignKeyConstraint(["id"], ["files.id"], name="fk_vector_store_files_id", ondelete="CASCADE"),
        _store_fk("vector_store_files"),
        sqlite_autoincrement=True,
    )
    op.create_index("vector_store_files_store_seq", "vector_store_files", ["vector_store_id", "seq"])
    op.create_index("vector_store_files_batch", "vector_store_files", ["batch_id"])
    op.create_index("vector_store_files_file", "vector_store_files", ["id"])
    op.create_index("vector_store_files_status_lease", "vector_store_files", ["status", "lease_until"])

    op.create_table(
        "vector_store_file_batches",
        _seq(),
        _id(),
        _tenant(),
        sa.Column("vector_store_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        *_keys("vector_store_file_batches"),
        _store_fk("vector_store_file_batches"),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "vector_store_chunks",
        _seq(),
        sa.Column("store_file_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vector_store_id", sa.String(64), nullable=False),
        sa.Column("file_id", sa.String(64), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary()),
        sa.PrimaryKeyConstraint("seq", name="pk_vector_store_chunks"),
        sa.ForeignKeyConstraint(
            ["store_file_seq"],
            ["vector_store_files.seq"],
            name="fk_vector_store_chunks_store_file_seq",
            ondelete="CASCADE",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("vector_store_chunks_file", "vector_store_chunks", ["store_file_seq", "chunk_index"])
    op.create_index("vector_store_chunks_store", "vector_store_chunks", ["vector_store_id"])

    # The keyword index, the database's own. SQLite: an FTS5 table over the chunks' search_text (the rows
    # stay in vector_store_chunks, `content=`), kept in step by triggers. PostgreSQL: a stored tsvector column
    # and a GIN index on it.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE vector_store_chunks_fts USING fts5(search_text, "
            "content='vector_store_chunks', content_rowid='seq', tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute(
            "CREATE TRIGGER vector_store_chunks_fts_insert AFTER INSERT ON vector_store_chunks BEGIN "
            "INSERT INTO vector_store_chunks_fts(rowid, search_text) VALUES (new.seq, new.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER vector_store_chunks_fts_delete AFTER DELETE ON vector_store_chunks BEGIN "
            "INSERT INTO vector_store_chunks_fts(vector_store_chunks_fts, rowid, search_text) "
            "VALUES ('delete', old.seq, old.search_text); END"
        )
    else:
        # A stored tsvector: the index and the ranking read it, so no row's text is parsed again at search.
        op.execute(
            "ALTER TABLE vector_store_chunks ADD COLUMN search_vector tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED"
        )
        op.execute("CREATE INDEX vector_store_chunks_fts ON vector_store_chunks USING gin (search_vector)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER vector_store_chunks_fts_delete")
        op.execute("DROP TRIGGER vector_store_chunks_fts_insert")
        op.execute("DROP TABLE vector_store_chunks_fts")
    for table in (
        "vector_store_chunks",
        "vector_store_file_batches",
        "vector_store_files",
        "vector_stores",
        "file_parts",
        "files",
    ):
        op.drop_table(table)
