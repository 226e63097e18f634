"""The engine for an app's lifetime: its store, its connection pool to MiniMax, its executor, the
code sessions (code_interpreter), the ingestion worker, and the sweeps that keep runs honest (leases
renewed; expired tool calls and orphaned runs ended) and files and vector stores to their expiry."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from gateway.engine.backend import EngineBackend
from gateway.engine.chat import ChatClient
from gateway.engine.checkpoints import Checkpoints
from gateway.engine.code_interpreter import CodeInterpreter
from gateway.engine.documents import EngineDocuments
from gateway.engine.executor import Executor
from gateway.engine.file_search import FileSearch
from gateway.engine.images import Images
from gateway.engine.ingest.worker import IngestWorker
from gateway.engine.models import model_aliases
from gateway.engine.retrieval.embeddings import Embeddings
from gateway.engine.retrieval.searcher import Searcher
from gateway.engine.signals import Signals
from gateway.engine.store import Store, StoreError
from gateway.metrics import Metrics
from gateway.sandbox.opening import open_sessions
from gateway.schemas.status import RunStatus
from gateway.settings import Settings
from gateway.stream.events import Clock
from gateway.upstream.http import upstream_http

log = logging.getLogger("gateway.engine")
ORPHANED = "The gateway process running this run stopped before it ended"
SHUTDOWN = "The gateway shut down before the run ended"


async def sweep(store: Store, executor: Executor, settings: Settings, clock: Clock) -> None:
    """Forever: renew the leases of the runs executing here, expire tool calls nobody answered,
    fail runs whose process died (their lease lapsed)."""
    while True:
        try:
            await store.leases.renew(list(executor.jobs), executor.owner, settings.lease_seconds)
            now = clock()
            for run in await store.leases.expire_due(now):
                log.info("run %s expired waiting for tool outputs", run["id"])
            for run in await store.leases.fail_orphans(now, ORPHANED):
                log.warning("run %s failed: its lease lapsed (the process running it stopped)", run["id"])
            for file_id in await store.files.sweep(now):
                log.info("file %s deleted: it expired (or its upload was abandoned)", file_id)
            for store_id in await store.vector_stores.sweep(now):
                log.info("vector store %s expired", store_id)
        except StoreError as exc:
            log.warning("sweep failed: %s", exc)
        except Exception:  # a bug must not end the sweeps for the process's lifetime
            log.exception("sweep failed")
        await asyncio.sleep(min(settings.sweep_interval, settings.lease_seconds / 3))


@asynccontextmanager
async def open_engine(settings: Settings, metrics: Metrics, *, clock: Clock) -> AsyncIterator[EngineBackend]:
    """The engine, open for an app's lifetime; on exit, runs still executing here are failed."""
    store = await Store.open(
        settings.database_url,
        clock=clock,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        lease_ttl=settings.lease_seconds,
        migrate=settings.migrates_on_start(),
    )
    metrics.count_store_transactions(lambda: store.db.transactions)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    try:
        async with (
            upstream_http(settings, metrics) as upstream,
            open_sessions(settings, f"process:{owner}") as sessions,
        ):
            embeddings = None
            if settings.embeddings_url:
                key = settings.embeddings_api_key
                embeddings = Embeddings(
                    upstream.session,
                    settings.embeddings_url,
                    settings.embeddings_model,
                    None if key is None else key.get_secret_value(),
                    batch_size=settings.embeddings_batch_size,
                )
            searcher = Searcher(store, embeddings, settings.embeddings_cache_mb << 20)
            executor = Executor(
                store,
                ChatClient(settings, upstream.session, upstream.streams),
                settings,
                owner=owner,
                clock=clock,
                file_search=FileSearch(store, searcher),
                code=None
                if isinstance(sessions, str)
                else CodeInterpreter(
                    store,
                    sessions,
                    idle_seconds=settings.code_session_idle_seconds,
                    max_file_bytes=settings.max_file_bytes,
                ),
                metrics=metrics,
            )
            ingest = IngestWorker(
                store,
                owner=owner,
                lease_seconds=settings.lease_seconds,
                # Files queued here wake the worker; those of other replicas are told by `Signals`, or
                # found by a poll while its listener is down. On SQLite there are none: the worker looks
                # again only when a lease it saw lapses, or a third of a lease passed.
                poll_interval=min(settings.sweep_interval, 1.0) if store.db.postgres else math.inf,
                concurrency=settings.ingest_workers,
                embeddings=embeddings,
                metrics=metrics,
            )
            signals = Signals(
                settings.database_url,
                lambda run_id: executor.stop(run_id, RunStatus.CANCELLED, "cancelled"),
                on_files=ingest.wake,
                on_listening=ingest.listening,
            )
            await signals.start()

            def files_queued() -> None:
                ingest.wake()
                signals.files_queued()

            documents = EngineDocuments(
                store, searcher, files_queued, max_file_bytes=settings.max_file_bytes, metrics=metrics
            )
            checkpoints = Checkpoints(executor.jobs, settings.checkpoint_interval)
            tasks = [
                asyncio.create_task(checkpoints.run(), name="checkpoints"),
                asyncio.create_task(sweep(store, executor, settings, clock), name="engine sweep"),
                asyncio.create_task(ingest.run(), name="ingestion"),
            ]
            try:
                yield EngineBackend(
                    store,
                    executor,
                    signals,
                    model_aliases(settings),
                    documents,
                    Images.of(settings),
                    code_refusal=sessions if isinstance(sessions, str) else None,
                )
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with suppress(asyncio.CancelledError):
                        await task
                await signals.close()
                await executor.shutdown(SHUTDOWN)
    finally:
        await store.close()
