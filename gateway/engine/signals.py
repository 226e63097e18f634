"""Tell the process running a run to stop it, wherever that process is.

On PostgreSQL every gateway process LISTENs on one channel and a cancel NOTIFYs the run's id, so the
replica streaming the run closes its MiniMax request within a round trip, whichever replica took the
cancel call. On SQLite there is one process: the signal is delivered in-process. The listening
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
RECONNECT_SECONDS = 1.0


def _asyncpg_dsn(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class Signals:
    """`cancel(run_id)` reaches `on_cancel(run_id)` in every gateway process on the database."""

    def __init__(self, database_url: str, on_cancel: Callable[[str], None]) -> None:
        self._on_cancel = on_cancel
        self._dsn = None if is_sqlite(database_url) else _asyncpg_dsn(database_url)
        self._listener: asyncio.Task[None] | None = None
        self._conn: Any = None  # the listening asyncpg connection, while it is up
        self._sending = asyncio.Lock()  # one statement at a time on that connection

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
                    self._conn = conn
                    closed = asyncio.Event()
                    conn.add_termination_listener(lambda _conn, ended=closed: ended.set())
                    await closed.wait()
                finally:
                    self._conn = None
                    with suppress(Exception):
                        await conn.close()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("run signals: cannot listen (%s); retrying", type(exc).__name__)
            await asyncio.sleep(RECONNECT_SECONDS)

    def _heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_cancel(payload)

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
        if self._listener is not None:
            self._listener.cancel()
            with suppress(asyncio.CancelledError):
                await self._listener
