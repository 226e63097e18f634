"""The ingestion queue: vector-store files `in_progress`, leased to one worker at a time, like runs.

`claim` takes files whose lease is free or lapsed (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so
replicas never take the same file), counts the attempt, and writes a lease token of its own
(`IngestJob.lease`: the worker's name and the attempt); every later write is conditioned on that token
and on the file still being `in_progress`, and renews the lease. So a replica killed mid-file leaves it
to be taken again when its lease lapses (its partial chunks are dropped first); a worker whose lease
lapsed under it (even one in the same process that took the file again) is refused at its next write,
never ingesting beside the new attempt; and a file detached or cancelled meanwhile stops its worker
the same way (the write answers False).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from gateway.engine.store import direct
from gateway.engine.store.db import Db, one_statement
from gateway.engine.store.render import JSON
from gateway.engine.store.tables import files, vector_stores
from gateway.engine.store.tables import vector_store_chunks as c
from gateway.engine.store.tables import vector_store_files as t

_FREE = (t.c.status == "in_progress") & (t.c.lease_until.is_(None) | (t.c.lease_until < bindparam("now")))
_NEXT_FREE = select(func.min(func.coalesce(t.c.lease_until, 0.0))).where(t.c.status == "in_progress")
"""The earliest lease end among the files waiting to be ingested (0 for one never leased; NULL when none
waits). A read on the driver (`direct`), one statement (on PostgreSQL one round trip): what an idle
worker's round costs, instead of a claim's write transaction."""


@one_statement
def _next_free(conn: Connection) -> Any:
    return direct.scalar(conn, _NEXT_FREE, {})


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
    lease: str  # this attempt's lease token: every write checks it


@dataclass(frozen=True, slots=True)
class NewChunk:
    index: int
    text: str
    search_text: str
    embedding: bytes | None = None


class Ingestion:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def next_free(self) -> float | None:
        """Seconds until a file may be claimed: 0 when one is free now, None when no file waits to be
        ingested. A lease is free once the store's clock (whole seconds) has passed its end."""
        found = await self._db.read(_next_free)
        if found is None:
            return None
        now = self._db.clock()
        return 0.0 if found < now else float(found) - now + 1

    async def claim(self, owner: str, ttl: float, limit: int) -> list[IngestJob]:
        """Up to `limit` free files, leased to `owner` for `ttl` s."""
        now = self._db.clock()
        free = select(t.c.seq).where(_FREE).order_by(t.c.seq).limit(limit)
        if self._db.postgres:
            free = free.with_for_update(skip_locked=True)

        def body(conn: Connection) -> list[IngestJob]:
            seqs = list(conn.scalars(free, {"now": now}))
            if not seqs:
                return []
            rows = conn.execute(
                select(t, files.c.filename, files.c.bytes)
                .join(files, files.c.id == t.c.id)
                .where(t.c.seq.in_(seqs))
                .order_by(t.c.seq)
            ).mappings()
            jobs = [_job(r, owner) for r in rows]
            for job in jobs:
                conn.execute(
                    update(t)
                    .where(t.c.seq == job.seq)
                    .values(lease_owner=job.lease, lease_until=now + ttl, attempts=job.attempts)
                )
            return jobs

        return await self._db.write(body)

    async def restart(self, job: IngestJob, ttl: float) -> bool:
        """Drop the chunks an earlier attempt left; False if the file is no longer ours to ingest."""

        def body(conn: Connection) -> bool:
            if not _renew(conn, job, self._db.clock() + ttl):
                return False
            conn.execute(delete(c).where(c.c.store_file_seq == job.seq))
            return True

        return await self._db.write(body)

    async def renew(self, jobs: Sequence[IngestJob], ttl: float) -> set[int]:
        """Extend these leases (one statement); the `seq`s of the files still ours to ingest."""
        until = self._db.clock() + ttl
        tokens = [j.lease for j in jobs]

        def body(conn: Connection) -> set[int]:
            if not tokens:
                return set()
            held = (t.c.lease_owner.in_(tokens)) & (t.c.status == "in_progress")
            conn.execute(update(t).where(held).values(lease_until=until))
            return set(conn.scalars(select(t.c.seq).where(held)))

        return await self._db.write(body)

    async def add_chunks(self, job: IngestJob, ttl: float, chunks: Sequence[NewChunk]) -> bool:
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
            if not _renew(conn, job, self._db.clock() + ttl):
                return False
            if rows:
                conn.execute(insert(c), rows)
            return True

        return await self._db.write(body)

    async def complete(self, job: IngestJob, usage_bytes: int) -> bool:
        return await self._end(job, {"status": "completed", "usage_bytes": usage_bytes}, drop=False)

    async def fail(self, job: IngestJob, code: str, message: str) -> bool:
        error = {"code": code, "message": message}
        return await self._end(job, {"status": "failed", "last_error": error, "usage_bytes": 0}, drop=True)

    async def release(self, job: IngestJob, retry_after: float) -> None:
        """Give the file back after a passing failure; it may be claimed again in `retry_after` s."""
        until = self._db.clock() + retry_after
        await self._db.write(
            lambda conn: conn.execute(
                update(t)
                .where(t.c.seq == job.seq, t.c.lease_owner == job.lease)
                .values(lease_owner=None, lease_until=until)
            )
        )

    async def _end(self, job: IngestJob, values: JSON, *, drop: bool) -> bool:
        def body(conn: Connection) -> bool:
            ended = conn.execute(
                update(t)
                .where(t.c.seq == job.seq, t.c.lease_owner == job.lease, t.c.status == "in_progress")
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


def _renew(conn: Connection, job: IngestJob, until: float) -> bool:
    return bool(
        conn.execute(
            update(t)
            .where(t.c.seq == job.seq, t.c.lease_owner == job.lease, t.c.status == "in_progress")
            .values(lease_until=until)
        ).rowcount
        == 1
    )


def _job(r: Any, owner: str) -> IngestJob:
    static = r["chunking_strategy"]["static"]
    attempts = int(r["attempts"]) + 1
    return IngestJob(
        seq=r["seq"],
        file_id=r["id"],
        vector_store_id=r["vector_store_id"],
        tenant=r["tenant"],
        filename=r["filename"],
        bytes=r["bytes"],
        max_tokens=static["max_chunk_size_tokens"],
        overlap_tokens=static["chunk_overlap_tokens"],
        attempts=attempts,
        lease=f"{owner}#{attempts}",
    )
