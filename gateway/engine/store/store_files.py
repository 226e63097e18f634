"""Files in a vector store: attach (one, or a batch's), list with a status filter, retrieve, update
`attributes`, detach, and the chunks a file was indexed as.

A file attached is `in_progress` until the ingestion worker (`engine.ingest.worker`, through
`store.ingestion`) ends it `completed`, `failed` or, when its batch is cancelled, `cancelled`. Only a
tenant's own processed files can be attached; one file appears at most once in a store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from gateway.engine.store.db import Db
from gateway.engine.store.errors import NotFound, StoreError
from gateway.engine.store.paging import page
from gateway.engine.store.render import JSON, Row
from gateway.engine.store.tables import files, vector_stores
from gateway.engine.store.tables import vector_store_chunks as c
from gateway.engine.store.tables import vector_store_files as t


class StoreExpired(StoreError):
    def __init__(self, store_id: str) -> None:
        super().__init__(f"Vector store {store_id} is expired: it can no longer be used.")
        self.store_id = store_id


@dataclass(frozen=True, slots=True)
class NewStoreFile:
    file_id: str
    chunking_strategy: (
        JSON  # resolved: {"type": "static", "static": {max_chunk_size_tokens, chunk_overlap_tokens}}
    )
    attributes: JSON | None = None


def file_object(r: Row) -> JSON:
    return {
        "id": r["id"],
        "object": "vector_store.file",
        "usage_bytes": r["usage_bytes"],
        "created_at": r["created_at"],
        "vector_store_id": r["vector_store_id"],
        "status": r["status"],
        "last_error": r["last_error"],
        "chunking_strategy": r["chunking_strategy"],
        "attributes": r["attributes"],
    }


def usable_store(conn: Connection, tenant: str, store_id: str) -> Row:
    """The tenant's store, for a change to its files: 404 if absent, 400 if expired."""
    row = (
        conn.execute(
            select(vector_stores).where(vector_stores.c.id == store_id, vector_stores.c.tenant == tenant)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("vector store", store_id)
    if row["expired"]:
        raise StoreExpired(store_id)
    return row


def attach(
    conn: Connection,
    tenant: str,
    store_id: str,
    new: Sequence[NewStoreFile],
    batch_id: str | None,
    now: int,
) -> None:
    """Queue `new` in the store for ingestion. A file already there is left as it is (in a batch it
    is counted with the batch)."""
    if not new:
        return
    ids = [n.file_id for n in new]
    owned = set(
        conn.scalars(
            select(files.c.id).where(
                files.c.id.in_(ids), files.c.tenant == tenant, files.c.status == "processed"
            )
        )
    )
    for file_id in ids:
        if file_id not in owned:
            raise NotFound("file", file_id)
    present = set(conn.scalars(select(t.c.id).where(t.c.vector_store_id == store_id, t.c.id.in_(ids))))
    rows, seen = [], set(present)
    for n in new:
        if n.file_id in seen:
            continue
        seen.add(n.file_id)
        rows.append(
            {
                "id": n.file_id,
                "tenant": tenant,
                "vector_store_id": store_id,
                "batch_id": batch_id,
                "created_at": now,
                "status": "in_progress",
                "last_error": None,
                "usage_bytes": 0,
                "attributes": n.attributes,
                "chunking_strategy": n.chunking_strategy,
                "lease_owner": None,
                "lease_until": None,
                "attempts": 0,
            }
        )
    if rows:
        conn.execute(insert(t), rows)
    if present and batch_id is not None:
        conn.execute(
            update(t).where(t.c.vector_store_id == store_id, t.c.id.in_(present)).values(batch_id=batch_id)
        )


def get(conn: Connection, tenant: str, store_id: str, file_id: str) -> Row:
    row = (
        conn.execute(
            select(t).where(t.c.vector_store_id == store_id, t.c.id == file_id, t.c.tenant == tenant)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("vector store file", file_id)
    return row


def store_exists(conn: Connection, tenant: str, store_id: str) -> None:
    found = conn.scalar(
        select(vector_stores.c.seq).where(vector_stores.c.id == store_id, vector_stores.c.tenant == tenant)
    )
    if found is None:
        raise NotFound("vector store", store_id)


class StoreFiles:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def attach(self, tenant: str, store_id: str, new: NewStoreFile) -> JSON:
        def body(conn: Connection) -> JSON:
            usable_store(conn, tenant, store_id)
            attach(conn, tenant, store_id, [new], None, self._db.clock())
            return file_object(get(conn, tenant, store_id, new.file_id))

        return await self._db.write(body)

    async def retrieve(self, tenant: str, store_id: str, file_id: str) -> JSON:
        return await self._db.read(lambda conn: file_object(get(conn, tenant, store_id, file_id)))

    async def list(
        self,
        tenant: str,
        store_id: str,
        *,
        status: str | None = None,
        batch_id: str | None = None,
        **cursor: Any,
    ) -> JSON:
        filters = []
        if status is not None:
            filters.append(t.c.status == status)
        if batch_id is not None:
            filters.append(t.c.batch_id == batch_id)

        def body(conn: Connection) -> JSON:
            store_exists(conn, tenant, store_id)
            scope = [t.c.vector_store_id == store_id, t.c.tenant == tenant]
            return page(conn, t, scope, file_object, filters=filters, **cursor)

        return await self._db.read(body)

    async def update(self, tenant: str, store_id: str, file_id: str, attributes: JSON | None) -> JSON:
        def body(conn: Connection) -> JSON:
            row = get(conn, tenant, store_id, file_id)
            conn.execute(update(t).where(t.c.seq == row["seq"]).values(attributes=attributes))
            return file_object(get(conn, tenant, store_id, file_id))

        return await self._db.write(body)

    async def delete(self, tenant: str, store_id: str, file_id: str) -> JSON:
        """Detach the file (its chunks go with it; the file itself stays, as OpenAI's did)."""

        def body(conn: Connection) -> JSON:
            row = get(conn, tenant, store_id, file_id)
            conn.execute(delete(t).where(t.c.seq == row["seq"]))
            conn.execute(
                update(vector_stores)
                .where(vector_stores.c.id == store_id)
                .values(generation=vector_stores.c.generation + 1)
            )
            return {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}

        return await self._db.write(body)

    async def content(self, tenant: str, store_id: str, file_id: str) -> JSON:
        """The text the file was indexed as: its chunks in order (overlapping as chunked)."""

        def body(conn: Connection) -> JSON:
            row = get(conn, tenant, store_id, file_id)
            texts = conn.scalars(
                select(c.c.text).where(c.c.store_file_seq == row["seq"]).order_by(c.c.chunk_index)
            )
            return {
                "object": "vector_store.file_content.page",
                "data": [{"type": "text", "text": text} for text in texts],
                "has_more": False,
                "next_page": None,
            }

        return await self._db.read(body)
