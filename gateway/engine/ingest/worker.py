"""The ingestion worker: takes vector-store files `in_progress` from the store (any replica may take any
file, under a lease), and makes each one searchable or ends it with a reason.

One file: its parts are copied from the database to a temporary file (disk, not memory), its text is
extracted and chunked (`extract`, `chunking`) in a worker thread a batch at a time, each batch gets its
search text (`retrieval.analyze.index_text`) and, when an embeddings endpoint is configured, its
vectors, and is written with the lease renewed. Then the file is `completed` with its `usage_bytes`
(the UTF-8 size of its chunks' text). A file that cannot be read ends `failed` with OpenAI's code
(`unsupported_file`, `invalid_file`); a passing failure (the database, the embeddings endpoint) gives
the file back to be tried again, at most `MAX_ATTEMPTS` times in all, then `server_error`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import tempfile
import time
from collections.abc import Awaitable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Final

import numpy as np

from gateway.engine.ingest.chunking import Chunk, chunks
from gateway.engine.ingest.extract import ExtractError, extract
from gateway.engine.retrieval.analyze import index_text
from gateway.engine.retrieval.embeddings import Embeddings, EmbeddingsError
from gateway.engine.store import Store, StoreError
from gateway.engine.store.ingestion import IngestJob, NewChunk
from gateway.metrics import Metrics

log = logging.getLogger("gateway.ingest")
MAX_ATTEMPTS: Final = 3
BATCH: Final = 64  # chunks made, embedded and written together


class IngestWorker:
    """`run()` for the app's lifetime; `wake()` when files were queued here."""

    def __init__(
        self,
        store: Store,
        *,
        owner: str,
        lease_seconds: float,
        poll_interval: float,
        concurrency: int,
        embeddings: Embeddings | None,
        metrics: Metrics,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._owner = owner
        self._ttl = lease_seconds
        self._poll = self._fallback = poll_interval
        self._concurrency = concurrency
        self._embeddings = embeddings
        self._woken = asyncio.Event()
        self._running: dict[asyncio.Task[None], IngestJob] = {}

    def wake(self) -> None:
        self._woken.set()

    def listening(self, up: bool) -> None:
        """Whether the files other processes queue are told here (`Signals`). While they are, the worker
        does not poll for them; each change wakes it for one look (files queued while nobody listened)."""
        self._poll = math.inf if up else self._fallback
        self._woken.set()

    async def run(self) -> None:
        """Take files while there is room; renew the leases of those in hand every third of a lease
        (a slow batch must not let a lease lapse), stopping any this process no longer holds. Between
        rounds it sleeps until it is woken (a file queued here or, told by `Signals`, elsewhere; a slot
        freed; the listener's state changed), a lease it saw lapses, a third of a lease passed, or, while
        nobody tells it, `poll_interval` passed; a round with nothing free costs one read, not a write."""
        renew_at = time.monotonic()
        try:
            while True:
                self._woken.clear()
                wait = min(self._poll, self._ttl / 3)
                try:
                    if time.monotonic() >= renew_at:
                        renew_at = time.monotonic() + self._ttl / 3
                        await self._renew()
                    jobs, wait = await self._claim(wait)
                except StoreError as exc:
                    log.warning("could not take or renew files to ingest: %s", exc)
                    jobs = []
                for job in jobs:
                    task = asyncio.create_task(self._ingest(job), name=f"ingest {job.file_id}")
                    self._running[task] = job
                    task.add_done_callback(self._done)
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), wait)
        finally:
            for task in list(self._running):
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _claim(self, wait: float) -> tuple[list[IngestJob], float]:
        """The files taken now, and how long to sleep at most before looking again."""
        free = self._concurrency - len(self._running)
        if free <= 0:
            return [], wait
        ingestion = self._store.ingestion
        due = await ingestion.next_free()
        if due is None:
            return [], wait
        if due > 0:  # every queued file is leased (or waits for its retry)
            return [], min(wait, due)
        return await ingestion.claim(self._owner, self._ttl, free), wait

    async def _renew(self) -> None:
        if not self._running:
            return
        held = await self._store.ingestion.renew(list(self._running.values()), self._ttl)
        for task, job in list(self._running.items()):
            if job.seq not in held:  # removed, cancelled, or taken over: stop now
                task.cancel()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._woken.set()  # room for another file

    async def _ingest(self, job: IngestJob) -> None:
        ingestion = self._store.ingestion
        try:
            if job.attempts > MAX_ATTEMPTS:
                self._metrics.files_ingested.labels("server_error").inc()
                await ingestion.fail(job, "server_error", "The file could not be processed.")
                return
            if not await ingestion.restart(job, self._ttl):
                return
            with tempfile.TemporaryDirectory(prefix="gateway-ingest-") as folder:
                path = Path(folder) / "file"
                await self._copy(job, path)
                used = await self._index(job, path)
            if used is not None and await ingestion.complete(job, used):
                self._metrics.files_ingested.labels("completed").inc()
                log.info("file %s ingested into %s", job.file_id, job.vector_store_id)
        except ExtractError as exc:
            self._metrics.files_ingested.labels(exc.code).inc()
            await self._quietly(ingestion.fail(job, exc.code, exc.message))
        except (StoreError, EmbeddingsError, OSError) as exc:
            log.warning("ingesting file %s failed (attempt %d): %s", job.file_id, job.attempts, exc)
            await self._quietly(ingestion.release(job, retry_after=min(60.0, 5.0 * job.attempts)))
        except Exception:
            self._metrics.files_ingested.labels("server_error").inc()
            log.exception("ingesting file %s failed", job.file_id)
            await self._quietly(ingestion.fail(job, "server_error", "The file could not be processed."))

    async def _copy(self, job: IngestJob, path: Path) -> None:
        """The file's bytes into `path`, part by part (the run loop keeps the lease meanwhile)."""
        with path.open("wb") as out:
            index = 0
            while (data := await self._store.files.part(job.file_id, index)) is not None:
                out.write(data)
                index += 1

    async def _index(self, job: IngestJob, path: Path) -> int | None:
        """Chunk, analyse, embed and write; the chunks' UTF-8 size, or None if the file stopped being
        ours (detached, cancelled, its lease taken)."""
        made = chunks(extract(path, job.filename), job.max_tokens, job.overlap_tokens)
        used = 0
        while batch := await asyncio.to_thread(_next_batch, made):
            vectors: list[bytes | None] = [None] * len(batch)
            if self._embeddings is not None:
                embedded = await self._embeddings.embed([text for _, text, _ in batch])
                vectors = [np.asarray(v, dtype="<f4").tobytes() for v in embedded]
            rows = [
                NewChunk(index, text, search, vector)
                for (index, text, search), vector in zip(batch, vectors, strict=True)
            ]
            if not await self._store.ingestion.add_chunks(job, self._ttl, rows):
                return None
            self._metrics.chunks_indexed.inc(len(rows))
            used += sum(len(text.encode()) for _, text, _ in batch)
        return used

    @staticmethod
    async def _quietly(ending: Awaitable[object]) -> None:
        try:
            await ending
        except StoreError as exc:  # the lease lapses and another attempt follows
            log.warning("could not record the end of an ingestion: %s", exc)


def _next_batch(made: Iterator[Chunk]) -> list[tuple[int, str, str]]:
    """The next chunks with their search text (in a worker thread: extraction is CPU work)."""
    out = []
    for chunk in made:
        out.append((chunk.index, chunk.text, index_text(chunk.text)))
        if len(out) == BATCH:
            break
    return out
