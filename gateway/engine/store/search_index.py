"""The keyword index over vector-store chunks: the database's own full-text search, named here.

It is made by migration 0002 and differs by database, so it stays outside `tables.metadata`: on SQLite
an FTS5 table (`unicode61` tokenizer) over `vector_store_chunks.search_text`, kept in step by two
triggers; on PostgreSQL a stored generated column `search_vector` (`to_tsvector('simple',
search_text)`) with a GIN index, which the search filters and ranks on without parsing any text again.
Both read the same `search_text` (words and CJK bigrams, `retrieval.analyze.index_text`), so the two
databases find the same chunks; they rank them by their own measure (bm25 on SQLite, ts_rank on
PostgreSQL).
"""

from __future__ import annotations

from typing import Any, Final

FTS_TABLE: Final = "vector_store_chunks_fts"
VECTOR_COLUMN: Final = "search_vector"
"""PostgreSQL's stored tsvector of `search_text`, GIN-indexed."""


def is_index_object(name: str | None, type_: str) -> bool:
    """Whether a schema object belongs to the keyword index (the FTS5 table and its shadow tables, the
    tsvector column and its GIN index), which a comparison with `tables.metadata` must leave out."""
    if type_ == "column":
        return name == VECTOR_COLUMN
    return bool(name) and str(name).startswith(FTS_TABLE) and type_ in ("table", "index")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's `include_object` hook: everything but the keyword index."""
    return not is_index_object(name, type_)
