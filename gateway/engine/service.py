"""The engine for an app's lifetime: its store, its connection pool to MiniMax, its executor, and
the sweeps that keep runs honest (leases renewed; expired tool calls and orphaned runs ended)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from gateway.engine.backend import EngineBackend
from gateway.engine.chat import ChatClient
from gateway.engine.executor import Executor
from gateway.engine.signals import Signals
from gateway.engine.store import Store, StoreError
from gateway.metrics import Metrics
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
            for run_id in list(executor.jobs):
                await store.leases.heartbeat(run_id, executor.owner, settings.lease_seconds)
            now = clock()
            for run in await store.leases.expire_due(now):
                log.info("run %s expired waiting for tool outputs", run["id"])
            for run in await store.leases.fail_orphans(now, ORPHANED):
                log.warning("run %s failed: its lease lapsed (the process running it stopped)", run["id"])
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
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    try:
        async with upstream_http(settings) as (_http, session):
            executor = Executor(
                store, ChatClient(settings, session, metrics), settings, owner=owner, clock=clock
            )
            signals = Signals(
                settings.database_url, lambda run_id: executor.stop(run_id, "cancelled", "cancelled")
            )
            await signals.start()
            sweeper = asyncio.create_task(sweep(store, executor, settings, clock), name="engine sweep")
            try:
                yield EngineBackend(store, executor, signals, settings.aliases())
            finally:
                sweeper.cancel()
                with suppress(asyncio.CancelledError):
                    await sweeper
                await signals.close()
                await executor.shutdown(SHUTDOWN)
    finally:
        await store.close()
