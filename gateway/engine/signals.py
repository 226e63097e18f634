"""Tell the other gateway processes on the database: a run to stop, files to ingest.

On PostgreSQL every gateway process LISTENs on two channels. A cancel NOTIFYs the run's id, so the
replica streaming the run closes its MiniMax request within a round trip, whichever replica took the
cancel call. Files queued for ingestion NOTIFY the other channel, so an idle replica's ingestion worker
takes them at once instead of polling the store every second for them: while the listener is up the
worker does not poll (`on_listening`), and when it comes back the worker looks once, for what was queued
meanwhile. On SQLite there is one process: the signals are delivered in-process. The listening
connection is its own (outside the pool) and comes back by itself after the database restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from gateway.engine.store.url import is_sqlite

log = logging.getLogger("gateway.engine")
CHANNEL = "gateway_run_cancel"
FILES_CHANNEL = "gateway_files_queued"
RECONNECT_SECONDS = 1.0


def _asyncpg_dsn(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class Signals:
    """`cancel(run_id)` reaches `on_cancel(run_id)` in every gateway process on the database, and
    `files_queued()` reaches `on_files()` in the others; `on_listening(up)` follows the listener."""

    def __init__(
        self,
        database_url: str,
        on_cancel: Callable[[str], None],
        on_files: Callable[[], None] = lambda: None,
        on_listening: Callable[[bool], None] = lambda _up: None,
    ) -> None:
        self._on_cancel = on_cancel
        self._on_files = on_files
        self._on_listening = on_listening
        self._dsn = None if is_sqlite(database_url) else _asyncpg_dsn(database_url)
        self._listener: asyncio.Task[None] | None = None
        self._conn: Any = None  # the listening asyncpg connection, while it is up
        self._sending = asyncio.Lock()  # one statement at a time on that connection
        self._telling: set[asyncio.Task[None]] = set()  # `files_queued` notices on their way

    async def start(self) -> None:
        if self._dsn is None:
            return
        self._listener = asyncio.create_task(self._listen(self._dsn), name="engine signals")

    async def _listen(self, dsn: str) -> None:
        while True:
            try:
                conn = await asyncpg.connect(dsn)
                try:
                    await conn.add_listener(CHANNEL, self._heard)
                    await conn.add_listener(FILES_CHANNEL, self._heard_files)
                    self._conn = conn
                    closed = asyncio.Event()
                    conn.add_termination_listener(lambda _conn, ended=closed: ended.set())
                    self._on_listening(True)
                    await closed.wait()
                finally:
                    if self._conn is not None:
                        self._conn = None
                        self._on_listening(False)
                    with suppress(Exception):
                        await conn.close()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("run signals: cannot listen (%s); retrying", type(exc).__name__)
            await asyncio.sleep(RECONNECT_SECONDS)

    def _heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_cancel(payload)

    def _heard_files(self, conn: Any, pid: int, _channel: str, _payload: str) -> None:
        if pid != conn.get_server_pid():  # not this process's own notice
            self._on_files()

    def files_queued(self) -> None:
        """Tell the other processes that files wait to be ingested (sent in the background; if it cannot
        be sent, their workers find the files when they next look: when their listener comes back, or a
        lease they saw lapses)."""
        if self._conn is not None:
            task = asyncio.get_running_loop().create_task(self._notify_files())
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)

    async def _notify_files(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            async with self._sending:
                await conn.execute("SELECT pg_notify($1, '')", FILES_CHANNEL)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.debug("files queued: could not tell the other processes (%s)", type(exc).__name__)

    async def cancel(self, run_id: str) -> None:
        """Ask whichever process runs `run_id` to stop it (it records the run `cancelled`)."""
        conn = self._conn
        if conn is None:
            self._on_cancel(run_id)  # SQLite, or the listener is down: at least this process hears it
            return
        try:
            async with self._sending:
                await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, run_id)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._on_cancel(run_id)

    async def close(self) -> None:
        for task in list(self._telling):
            task.cancel()
        if self._listener is not None:
            self._listener.cancel()
            with suppress(asyncio.CancelledError):
                await self._listener
