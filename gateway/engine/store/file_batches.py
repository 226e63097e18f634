"""File batches: many files attached to a vector store at once, followed and cancelled together.

A batch's `file_counts` are its files' statuses, counted when it is read; its `status` is `cancelled`
once cancelled, `in_progress` while any of its files is, else `failed` when every file failed, else
`completed`. Cancelling ends its files still in progress `cancelled` (the worker ingesting one stops at
its next write, which finds the file no longer in progress) and drops the chunks they had.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from gateway.engine.store.db import Db
from gateway.engine.store.errors import NotFound
from gateway.engine.store.ids import new_id
from gateway.engine.store.render import JSON, Row
from gateway.engine.store.store_files import NewStoreFile, attach, usable_store
from gateway.engine.store.tables import vector_store_chunks as c
from gateway.engine.store.tables import vector_store_file_batches as t
from gateway.engine.store.tables import vector_store_files as f
from gateway.engine.store.vector_stores import counts, file_counts


def batch_object(conn: Connection, r: Row) -> JSON:
    n = file_counts(counts(conn, [r["vector_store_id"]], batch_id=r["id"])[r["vector_store_id"]])
    if r["cancelled"]:
        status = "cancelled"
    elif n["in_progress"]:
        status = "in_progress"
    elif n["total"] and n["failed"] == n["total"]:
        status = "failed"
    else:
        status = "completed"
    return {
        "id": r["id"],
        "object": "vector_store.files_batch",
        "created_at": r["created_at"],
        "vector_store_id": r["vector_store_id"],
        "status": status,
        "file_counts": n,
    }


def _get(conn: Connection, tenant: str, store_id: str, batch_id: str) -> Row:
    row = (
        conn.execute(
            select(t).where(t.c.id == batch_id, t.c.vector_store_id == store_id, t.c.tenant == tenant)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("vector store file batch", batch_id)
    return row


class FileBatches:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def create(self, tenant: str, store_id: str, new: Sequence[NewStoreFile]) -> JSON:
        def body(conn: Connection) -> JSON:
            usable_store(conn, tenant, store_id)
            now = self._db.clock()
            batch_id = new_id("vsfb", now)
            conn.execute(
                insert(t).values(
                    id=batch_id, tenant=tenant, vector_store_id=store_id, created_at=now, cancelled=False
                )
            )
            attach(conn, tenant, store_id, new, batch_id, now)
            return batch_object(conn, _get(conn, tenant, store_id, batch_id))

        return await self._db.write(body)

    async def retrieve(self, tenant: str, store_id: str, batch_id: str) -> JSON:
        return await self._db.read(lambda conn: batch_object(conn, _get(conn, tenant, store_id, batch_id)))

    async def exists(self, tenant: str, store_id: str, batch_id: str) -> None:
        await self._db.read(lambda conn: _get(conn, tenant, store_id, batch_id))

    async def cancel(self, tenant: str, store_id: str, batch_id: str) -> JSON:
        def body(conn: Connection) -> JSON:
            row = _get(conn, tenant, store_id, batch_id)
            if not row["cancelled"]:
                running = select(f.c.seq).where(f.c.batch_id == batch_id, f.c.status == "in_progress")
                seqs: list[Any] = list(conn.scalars(running))
                if seqs:
                    conn.execute(delete(c).where(c.c.store_file_seq.in_(seqs)))
                    conn.execute(
                        update(f).where(f.c.seq.in_(seqs)).values(status="cancelled", lease_owner=None)
                    )
                conn.execute(update(t).where(t.c.seq == row["seq"]).values(cancelled=True))
            return batch_object(conn, _get(conn, tenant, store_id, batch_id))

        return await self._db.write(body)
