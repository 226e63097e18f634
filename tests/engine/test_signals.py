"""`Signals` on PostgreSQL: files queued on one process reach the others' ingestion workers by NOTIFY,
and a worker polls the store only while its process's listener is down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from gateway.engine.ingest.worker import IngestWorker
from gateway.engine.signals import Signals
from gateway.engine.store import Store, migrate
from gateway.metrics import Metrics
from tests.postgres import PgServer, fresh_pg_db

pytestmark = pytest.mark.asyncio


class Heard:
    """What one process's `Signals` told it."""

    def __init__(self) -> None:
        self.files = 0
        self.listening: list[bool] = []
        self.changed = asyncio.Event()

    def on_files(self) -> None:
        self.files += 1
        self.changed.set()

    def on_listening(self, up: bool) -> None:
        self.listening.append(up)
        self.changed.set()

    async def until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        async def wait() -> None:
            while not check():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)


def _signals(url: str, heard: Heard) -> Signals:
    return Signals(url, lambda _run: None, on_files=heard.on_files, on_listening=heard.on_listening)


async def test_files_queued_on_one_process_wake_the_others_not_itself(pg_server: PgServer) -> None:
    url = await fresh_pg_db(pg_server, migrated=True)
    a_heard, b_heard = Heard(), Heard()
    a, b = _signals(url, a_heard), _signals(url, b_heard)
    await a.start()
    await b.start()
    killer = await asyncpg.connect(pg_server.dsn())
    try:
        await a_heard.until(lambda: a_heard.listening == [True])
        await b_heard.until(lambda: b_heard.listening == [True])
        a.files_queued()
        await b_heard.until(lambda: b_heard.files == 1)
        b.files_queued()
        await a_heard.until(lambda: a_heard.files == 1)
        await asyncio.sleep(0.2)
        assert (a_heard.files, b_heard.files) == (1, 1)  # neither heard its own
        # B's listening connection dies (a restart, a failover): B says so, listens again, hears again
        await killer.execute("SELECT pg_terminate_backend($1)", b._conn.get_server_pid())
        await b_heard.until(lambda: b_heard.listening == [True, False, True])
        a.files_queued()
        b.files_queued()
        await b_heard.until(lambda: b_heard.files == 2)
        await a_heard.until(lambda: a_heard.files == 2)
    finally:
        await killer.close()
        await a.close()
        await b.close()


async def test_a_worker_polls_only_while_nobody_tells_it(tmp_path: Path) -> None:
    """The worker's look for files (one store read) comes every `poll_interval` while its process does
    not listen, and not at all for a third of the lease while it does."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    await migrate(url)
    store = await Store.open(url)
    worker = IngestWorker(
        store,
        owner="me",
        lease_seconds=300,
        poll_interval=0.05,
        concurrency=1,
        embeddings=None,
        metrics=Metrics(),
    )
    running = asyncio.create_task(worker.run())

    async def reads_in(seconds: float) -> int:
        before = store.db.transactions["read"]
        await asyncio.sleep(seconds)
        return store.db.transactions["read"] - before

    try:
        assert await reads_in(0.6) >= 4  # polling
        worker.listening(True)
        await asyncio.sleep(0.1)  # the look the change itself wakes it for
        assert await reads_in(0.6) == 0
        worker.listening(False)
        assert await reads_in(0.6) >= 4
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await store.close()
