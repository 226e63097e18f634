"""The ingestion queue: vector-store files `in_progress`, leased to one worker at a time, like runs.

`claim` takes files whose lease is free or lapsed (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so
replicas never take the same file) and counts the attempt; every later write is conditioned on the
lease still being ours and the file still `in_progress`, and renews the lease. So a replica killed
mid-file leaves it to be taken again when its lease lapses (its partial chunks are dropped first), and a
file detached or cancelled meanwhile stops its worker at the next write (which answers False).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from gateway.engine.store.db import Db
from gateway.engine.store.objects import JSON
from gateway.engine.store.tables import files, vector_stores
from gateway.engine.store.tables import vector_store_chunks as c
from gateway.engine.store.tables import vector_store_files as t


@dataclass(frozen=True, slots=True)
class IngestJob:
    seq: int
    file_id: str
    vector_store_id: str
    tenant: str
    filename: str
    bytes: int
    max_tokens: int
    overlap_tokens: int
    attempts: int  # including this one


@dataclass(frozen=True, slots=True)
class NewChunk:
    index: int
    text: str
    search_text: str
    embedding: bytes | None = None


class Ingestion:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def claim(self, owner: str, ttl: float, limit: int) -> list[IngestJob]:
        now = self._db.clock()
        free = (
            select(t.c.seq)
            .where(t.c.status == "in_progress", (t.c.lease_until.is_(None)) | (t.c.lease_until < now))
            .order_by(t.c.seq)
            .limit(limit)
        )
        if self._db.postgres:
            free = free.with_for_update(skip_locked=True)

        def body(conn: Connection) -> list[IngestJob]:
            seqs = list(conn.scalars(free))
            if not seqs:
                return []
            conn.execute(
                update(t)
                .where(t.c.seq.in_(seqs))
                .values(lease_owner=owner, lease_until=now + ttl, attempts=t.c.attempts + 1)
            )
            rows = conn.execute(
                select(t, files.c.filename, files.c.bytes)
                .join(files, files.c.id == t.c.id)
                .where(t.c.seq.in_(seqs))
                .order_by(t.c.seq)
            ).mappings()
            return [_job(r) for r in rows]

        return await self._db.write(body)

    async def restart(self, job: IngestJob, owner: str, ttl: float) -> bool:
        """Drop the chunks an earlier attempt left; False if the file is no longer ours to ingest."""

        def body(conn: Connection) -> bool:
            if not _renew(conn, job, owner, self._db.clock() + ttl):
                return False
            conn.execute(delete(c).where(c.c.store_file_seq == job.seq))
            return True

        return await self._db.write(body)

    async def renew(self, job: IngestJob, owner: str, ttl: float) -> bool:
        """Extend the lease; False if the file is no longer ours to ingest."""
        return await self._db.write(lambda conn: _renew(conn, job, owner, self._db.clock() + ttl))

    async def add_chunks(self, job: IngestJob, owner: str, ttl: float, chunks: Sequence[NewChunk]) -> bool:
        rows = [
            {
                "store_file_seq": job.seq,
                "vector_store_id": job.vector_store_id,
                "file_id": job.file_id,
                "chunk_index": ch.index,
                "text": ch.text,
                "search_text": ch.search_text,
                "embedding": ch.embedding,
            }
            for ch in chunks
        ]

        def body(conn: Connection) -> bool:
            if not _renew(conn, job, owner, self._db.clock() + ttl):
                return False
            if rows:
                conn.execute(insert(c), rows)
            return True

        return await self._db.write(body)

    async def complete(self, job: IngestJob, owner: str, usage_bytes: int) -> bool:
        return await self._end(job, owner, {"status": "completed", "usage_bytes": usage_bytes}, drop=False)

    async def fail(self, job: IngestJob, owner: str, code: str, message: str) -> bool:
        error = {"code": code, "message": message}
        return await self._end(
            job, owner, {"status": "failed", "last_error": error, "usage_bytes": 0}, drop=True
        )

    async def release(self, job: IngestJob, owner: str, retry_after: float) -> None:
        """Give the file back after a passing failure; it may be claimed again in `retry_after` s."""
        until = self._db.clock() + retry_after
        await self._db.write(
            lambda conn: conn.execute(
                update(t)
                .where(t.c.seq == job.seq, t.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=until)
            )
        )

    async def _end(self, job: IngestJob, owner: str, values: JSON, *, drop: bool) -> bool:
        def body(conn: Connection) -> bool:
            ended = conn.execute(
                update(t)
                .where(t.c.seq == job.seq, t.c.lease_owner == owner, t.c.status == "in_progress")
                .values(lease_owner=None, lease_until=None, **values)
            ).rowcount
            if ended != 1:
                return False
            if drop:
                conn.execute(delete(c).where(c.c.store_file_seq == job.seq))
            conn.execute(
                update(vector_stores)
                .where(vector_stores.c.id == job.vector_store_id)
                .values(generation=vector_stores.c.generation + 1)
            )
            return True

        return await self._db.write(body)


def _renew(conn: Connection, job: IngestJob, owner: str, until: float) -> bool:
    return bool(
        conn.execute(
            update(t)
            .where(t.c.seq == job.seq, t.c.lease_owner == owner, t.c.status == "in_progress")
            .values(lease_until=until)
        ).rowcount
        == 1
    )


def _job(r: Any) -> IngestJob:
    static = r["chunking_strategy"]["static"]
    return IngestJob(
        seq=r["seq"],
        file_id=r["id"],
        vector_store_id=r["vector_store_id"],
        tenant=r["tenant"],
        filename=r["filename"],
        bytes=r["bytes"],
        max_tokens=static["max_chunk_size_tokens"],
        overlap_tokens=static["chunk_overlap_tokens"],
        attempts=r["attempts"],
    )
