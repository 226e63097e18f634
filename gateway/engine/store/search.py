"""Reads for vector-store search: keyword hits ranked by the database, the stores' files with their
attributes, chunk texts, and the stores' embeddings. Only chunks of `completed` files are found.

Keyword ranking is the database's own (see `search_index`): SQLite's bm25 over the FTS5 table (negated,
so larger is better), PostgreSQL's `ts_rank` over the stored, GIN-indexed tsvector. The query text is made
by `retrieval.analyze` (`fts5_query` / `tsquery`), the same terms on both.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Connection, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from gateway.engine.store.db import Db
from gateway.engine.store.search_index import FTS_TABLE, VECTOR_COLUMN
from gateway.engine.store.tables import files, vector_stores
from gateway.engine.store.tables import vector_store_chunks as c
from gateway.engine.store.tables import vector_store_files as f


@dataclass(frozen=True, slots=True)
class Hit:
    seq: int
    file_id: str
    rank: float  # larger is better


@dataclass(frozen=True, slots=True)
class StoreFile:
    file_id: str
    filename: str
    attributes: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Embedded:
    """A store's chunk embeddings as stored: `vectors` is their float32 bytes, one after another."""

    generation: int
    seqs: list[int]
    file_ids: list[str]
    vectors: bytes


_SQLITE = text(
    f"""
    SELECT ch.seq AS seq, ch.file_id AS file_id, -bm25({FTS_TABLE}) AS rank
    FROM {FTS_TABLE}
    JOIN vector_store_chunks ch ON ch.seq = {FTS_TABLE}.rowid
    JOIN vector_store_files f ON f.seq = ch.store_file_seq
    WHERE {FTS_TABLE} MATCH :query AND ch.vector_store_id IN :stores AND f.status = 'completed'
    ORDER BY rank DESC LIMIT :limit
    """
).bindparams(bindparam("stores", expanding=True))

# On PostgreSQL the chunks matching the query are found through the GIN index alone, and the files still
# being ingested are left out by a plain filter, not a join: a table just filled has no statistics yet,
# and with none the planner preferred the B-tree on vector_store_id (every chunk of the store, each one's
# tsvector tested, slow for a rare word in a large store) or a nested loop over the files. `|| ''`
# keeps that B-tree out of the plan; the few files in progress are read first (`_BUSY`).
_POSTGRES = text(
    f"""
    SELECT ch.seq AS seq, ch.file_id AS file_id, ts_rank(ch.{VECTOR_COLUMN}, q) AS rank
    FROM vector_store_chunks ch, to_tsquery('simple', :query) q
    WHERE ch.{VECTOR_COLUMN} @@ q AND (ch.vector_store_id || '') IN :stores
      AND NOT (ch.store_file_seq = ANY (:busy))
    ORDER BY rank DESC LIMIT :limit
    """
).bindparams(bindparam("stores", expanding=True), bindparam("busy", type_=ARRAY(BigInteger)))
_BUSY = select(f.c.seq).where(
    f.c.vector_store_id.in_(bindparam("stores", expanding=True)), f.c.status != "completed"
)


class Search:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def keyword(
        self, store_ids: Sequence[str], query: str, limit: int, file_ids: Sequence[str] | None = None
    ) -> list[Hit]:
        """The best `limit` chunks for `query` (an FTS5 expression on SQLite, a tsquery text on
        PostgreSQL), optionally only of `file_ids`."""
        if not query or not store_ids or (file_ids is not None and not file_ids):
            return []
        stmt = _POSTGRES if self._db.postgres else _SQLITE
        allowed = None if file_ids is None else set(file_ids)
        # With a file restriction, rank more and keep the allowed ones (the index cannot take the list).
        fetch = limit if allowed is None else limit * 20

        def body(conn: Connection) -> list[Hit]:
            params: dict[str, Any] = {"query": query, "stores": list(store_ids), "limit": fetch}
            if self._db.postgres:
                params["busy"] = list(conn.scalars(_BUSY, {"stores": list(store_ids)}))
            rows = conn.execute(stmt, params)
            hits = [Hit(r.seq, r.file_id, float(r.rank)) for r in rows]
            return hits if allowed is None else [h for h in hits if h.file_id in allowed][:limit]

        return await self._db.read(body)

    async def store_files(
        self, store_ids: Sequence[str], file_ids: Collection[str] | None = None
    ) -> list[StoreFile]:
        """The completed files of these stores (only `file_ids`, if given), with names and attributes."""
        stmt = (
            select(f.c.id, files.c.filename, f.c.attributes)
            .join(files, files.c.id == f.c.id)
            .where(f.c.vector_store_id.in_(store_ids), f.c.status == "completed")
            .order_by(f.c.seq)
        )
        if file_ids is not None:
            if not file_ids:
                return []
            stmt = stmt.where(f.c.id.in_(list(file_ids)))
        return await self._db.read(
            lambda conn: [StoreFile(r.id, r.filename, r.attributes) for r in conn.execute(stmt)]
        )

    async def texts(self, seqs: Sequence[int]) -> dict[int, tuple[str, str]]:
        """Each chunk's text and search text."""
        stmt = select(c.c.seq, c.c.text, c.c.search_text).where(c.c.seq.in_(seqs))
        return await self._db.read(lambda conn: {r.seq: (r.text, r.search_text) for r in conn.execute(stmt)})

    async def generations(self, store_ids: Sequence[str]) -> dict[str, int]:
        stmt = select(vector_stores.c.id, vector_stores.c.generation).where(vector_stores.c.id.in_(store_ids))
        return await self._db.read(lambda conn: {r.id: int(r.generation) for r in conn.execute(stmt)})

    async def embedded(self, store_id: str) -> Embedded:
        """Every embedded chunk of the store's completed files, with the store's generation read in the
        same transaction (so a copy kept under that generation matches what was read)."""
        chunks = (
            select(c.c.seq, c.c.file_id, c.c.embedding)
            .join(f, f.c.seq == c.c.store_file_seq)
            .where(c.c.vector_store_id == store_id, f.c.status == "completed", c.c.embedding.is_not(None))
            .order_by(c.c.seq)
        )

        def body(conn: Connection) -> Embedded:
            generation = conn.scalar(select(vector_stores.c.generation).where(vector_stores.c.id == store_id))
            seqs, file_ids, parts = [], [], []
            for r in conn.execute(chunks):
                seqs.append(r.seq)
                file_ids.append(r.file_id)
                parts.append(bytes(r.embedding))
            return Embedded(int(generation or 0), seqs, file_ids, b"".join(parts))

        return await self._db.read(body)
