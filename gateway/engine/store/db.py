"""The database handle: runs transaction bodies (sync functions of a `Connection`) off the event loop.

PostgreSQL: an asyncpg `AsyncEngine`; the body runs through `AsyncConnection.run_sync` (greenlet), so each
statement is awaited on the loop. SQLite: a pysqlite engine and one worker thread hop per transaction; the
writes go through one thread, on a connection it keeps (`_Sqlite._write_kept`), the reads through the
others. The async driver (aiosqlite) hops threads per DBAPI call (cursor, execute, fetch, close...), about
160 hops per run (`tests/engine/store/bench.py`; tests/bench/README.md, "Measurements behind the design").

SQLite's driver starts transactions lazily, at the first write, so a read-then-write transaction could fail
with SQLITE_BUSY halfway. We emit BEGIN ourselves (SQLAlchemy's documented recipe, minus its `begin` event
listener: any engine listener sends every statement through SQLAlchemy's event dispatch, about a quarter of
a short transaction's CPU): writes `BEGIN IMMEDIATE` (they queue on `busy_timeout`, then run alone), reads
a plain `BEGIN` (WAL lets them run beside a writer).

PostgreSQL round trips: a body that is one statement (`one_statement`: a call of one of the migrations'
functions, a run or a message read by id, the ingestion worker's poll) runs alone in autocommit, its own
transaction: one round trip instead of BEGIN, the statement, COMMIT. Grouped with other writes (`group.py`) it
runs in their transaction. No pre-ping either (SQLAlchemy's costs BEGIN, a ping and ROLLBACK per checkout).
Instead, at checkout: a connection the server dropped (a restart, a failover) shows as closed (asyncpg saw the
socket close) and is replaced without a round trip; one idle longer than `IDLE_PING` s (which may have died
without a word: a host gone) is pinged first (one round trip, `SELECT 1`), and replaced if that fails;
connections are recycled after `POOL_RECYCLE` s. Under load every connection is back in use within
milliseconds: no pings. And a transaction whose connection turns out dead anyway runs again once, on a new
one, when that cannot apply it twice: a read; a write that failed before its COMMIT was sent (never
committed); a statement asyncpg refused to send on a closed connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import Connection, Engine, event, pool
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.engine.store import direct
from gateway.engine.store.errors import StoreUnavailable
from gateway.engine.store.group import GroupCommit
from gateway.engine.store.ids import Clock
from gateway.engine.store.url import driver_url
from gateway.engine.store.workers import Workers

T = TypeVar("T")
Body = Callable[[Connection], T]
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout, OSError)
_DOWN_SQLSTATES = ("08", "53", "57")  # connection exception, insufficient resources, operator intervention
POOL_RECYCLE: Final = 1800.0  # s: a pooled PostgreSQL connection is replaced after this long
IDLE_PING: Final = 10.0  # s: a pooled PostgreSQL connection idle longer is pinged when checked out
PING_TIMEOUT: Final = 5.0


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached or is going away (a restart, a failover),
    not that a statement was wrong. asyncpg raises some of these unwrapped at connect time."""
    if isinstance(exc, UNAVAILABLE) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return True
    for cause in (exc, getattr(exc, "orig", None), getattr(getattr(exc, "orig", None), "__cause__", None)):
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str) and state[:2] in _DOWN_SQLSTATES:
            return True
    return False


def one_statement(body: Body[T]) -> Body[T]:
    """Mark a body that makes exactly one statement (a write: and raises after it only if that changed
    nothing): run alone, it needs no transaction of its own on PostgreSQL (autocommit: one round trip, where
    BEGIN, the statement and COMMIT make three). One statement is atomic and reads one snapshot anyway."""
    body.one_statement = True  # type: ignore[attr-defined]
    return body


def _unsent(exc: BaseException) -> bool:
    """Whether asyncpg refused `exc`'s statement because the connection was closed already: nothing of
    it reached the server (not "closed in the middle of operation", whose outcome is unknown)."""
    cause = getattr(getattr(exc, "orig", None), "__cause__", None)
    return isinstance(cause, asyncpg.exceptions.InterfaceError) and "connection is closed" in str(cause)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


json_text = _json_dumps
"""A value as the JSON text SQLAlchemy's JSON columns store (orjson's)."""


def from_db(value: Any) -> Any:
    """A `json` value a function returned (asyncpg hands it over as text)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def unavailable(exc: BaseException) -> StoreUnavailable:
    # The driver's text can name the host and user; keep it to the kind of failure.
    kind = "connection pool timed out" if isinstance(exc, PoolTimeout) else "database unavailable"
    return StoreUnavailable(f"{kind} ({type(exc).__name__})")


class Db:
    """What every query module shares: transactions, the clock, the dialect. Build it with `open_db`."""

    engine: AsyncEngine | Engine
    postgres: bool
    functions: bool
    """Whether a run's start (with its new thread, if any) and a batch are one call of the database's
    functions (PostgreSQL, migrations 0004 and 0005); else their statements one by one (SQLite; a test
    comparing the two)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.transactions = {"write": 0, "read": 0}  # begun, by kind: read by /metrics
        self._group = GroupCommit(self._write_transaction)

    async def write(self, body: Body[T]) -> T:
        """Run `body` in a write transaction, committed when it returns (rolled back if it raises; see
        `group.py`: writes queued together share one transaction, each caller gets its own outcome)."""
        return await self._group.write(body)

    async def _write_transaction(self, body: Body[T]) -> T:
        """One write transaction of its own."""
        raise NotImplementedError

    async def read(self, body: Body[T]) -> T:
        """Run `body` in one read transaction."""
        raise NotImplementedError

    async def first(self, stmt: Any, params: dict[str, Any]) -> Mapping[str, Any] | None:
        """The first row `stmt` reads (by column key), or None: one statement on the driver (`direct`), on
        PostgreSQL one round trip. What a client polling a run or a message costs."""
        return await self.read(one_statement(lambda conn: direct.first(conn, stmt, params)))

    async def close(self) -> None:
        raise NotImplementedError


class _Postgres(Db):
    postgres = True
    engine: AsyncEngine

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        super().__init__(clock)
        self.engine = engine
        self.functions = True
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def _write_transaction(self, body: Body[T]) -> T:
        self.transactions["write"] += 1
        return await self._transaction(body, autocommit=getattr(body, "one_statement", False))

    async def read(self, body: Body[T]) -> T:
        self.transactions["read"] += 1
        return await self._transaction(body, autocommit=getattr(body, "one_statement", False), retry=True)

    async def _transaction(self, body: Body[T], *, autocommit: bool = False, retry: bool = False) -> T:
        committing = [autocommit]  # from then on, a failure may have left the write applied

        def transaction(conn: Connection) -> T:  # BEGIN, the body and COMMIT: one hop into the greenlet
            conn.begin()
            result = body(conn)
            committing[0] = True
            conn.commit()
            return result

        for attempt in (1, 2):
            committing[0] = autocommit
            try:
                if autocommit:
                    async with self._autocommit.connect() as conn:
                        return await conn.run_sync(body)
                async with self.engine.connect() as conn:
                    return await conn.run_sync(transaction)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                safe = retry or not committing[0] or _unsent(exc)
                if attempt == 1 and safe and _disconnected(exc):
                    continue  # a pooled connection found dead: once more, on a new one
                raise unavailable(exc) from exc
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self._group.close()
        await self.engine.dispose()


class _Sqlite(Db):
    postgres = False
    engine: Engine

    def __init__(self, engine: Engine, clock: Clock, workers: int) -> None:
        super().__init__(clock)
        self.engine = engine
        self.functions = False
        self.kept: Connection | None = None
        """The writer's own connection, made in its thread by the first write: None until then, and always
        None with a single connection (`workers` 1), where reads and writes take turns on it."""
        if workers == 1:
            self._threads = self._writer = Workers(1, "store-sqlite")
            return
        # SQLite takes one writer at a time: this process's writes queue in one thread, in order,
        # instead of contending for the lock (its busy handler is not fair: under load a writer
        # could wait out busy_timeout and fail while others went ahead). That thread keeps one of the
        # pool's connections for all of them (`_write_kept`); the reads share the rest, a thread each.
        self._threads = Workers(workers - 1, "store-sqlite")
        self._writer = Workers(1, "store-sqlite-write")

    async def _hop(self, begin: str, body: Body[T], threads: Workers) -> T:
        def run() -> T:
            with self.engine.connect() as conn:
                return _in_transaction(conn, begin, body)

        return await self._run(threads, run)

    @staticmethod
    async def _run(threads: Workers, run: Callable[[], T]) -> T:
        try:
            return await threads.run(run)
        except (*UNAVAILABLE, sqlite3.OperationalError) as exc:  # the BEGIN's own failure is not wrapped
            raise unavailable(exc) from exc

    async def _write_transaction(self, body: Body[T]) -> T:
        self.transactions["write"] += 1
        if self._writer is self._threads:
            return await self._hop("BEGIN IMMEDIATE", body, self._writer)
        return await self._run(self._writer, lambda: self._write_kept(body))

    def _write_kept(self, body: Body[T]) -> T:
        """A write transaction on the writer's own connection (in the writer's thread). Kept from one
        transaction to the next, it is not checked out of the pool and back for each, and its page cache
        stays warm: SQLite keeps a connection's cache across its own commits, where a pooled connection
        finds its cache stale after the others' (tests/bench/README.md, "Measurements behind the design").
        A failure of the database or the driver, or a transaction left open, puts it aside (invalidated:
        the pool opens a new one); a body's own exception only rolls its transaction back."""
        conn = self.kept
        if conn is None:
            conn = self.kept = self.engine.connect()
        try:
            return _in_transaction(conn, "BEGIN IMMEDIATE", body)
        except BaseException as exc:
            if not isinstance(exc, Exception) or isinstance(exc, DBAPIError | sqlite3.Error) or _open(conn):
                self.kept = None
                with contextlib.suppress(Exception):
                    conn.invalidate()
                with contextlib.suppress(Exception):
                    conn.close()
            raise

    async def read(self, body: Body[T]) -> T:
        self.transactions["read"] += 1
        return await self._hop("BEGIN", body, self._threads)

    async def close(self) -> None:
        await self._group.close()
        await asyncio.get_running_loop().run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        self._threads.shutdown()
        if self._writer is not self._threads:
            self._writer.shutdown()
        conn, self.kept = self.kept, None
        if conn is not None:
            conn.close()
        self.engine.dispose()


def _in_transaction(conn: Connection, begin: str, body: Body[T]) -> T:
    conn.connection.dbapi_connection.execute(begin)  # type: ignore[union-attr]
    with conn.begin():  # commits (or rolls back) the transaction just begun
        return body(conn)


def _open(conn: Connection) -> bool:
    """Whether `conn` is still in a transaction (or cannot say)."""
    try:
        return bool(conn.connection.dbapi_connection.in_transaction)  # type: ignore[union-attr]
    except Exception:
        return True


def open_db(
    url: str,
    clock: Clock,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 10.0,
    busy_timeout_ms: int = 5000,
) -> Db:
    """A `Db` for `DATABASE_URL`; a full pool waits at most `pool_timeout` s, then StoreUnavailable.

    Nothing connects before the first transaction.
    """
    target = driver_url(url)
    sizes: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": pool_timeout,
    }
    json: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
    if not target.startswith("sqlite"):
        # No pre-ping (see the module docstring): a connection the server dropped (a restart, a failover)
        # is replaced at checkout all the same, so one outage does not fail the next transaction of every
        # pooled connection.
        pg = create_async_engine(target, pool_recycle=POOL_RECYCLE, **sizes, **json)
        event.listen(pg.sync_engine.pool, "checkout", _checkout)
        event.listen(pg.sync_engine.pool, "checkin", _checkin)
        return _Postgres(pg, clock)
    sync_url = target
    memory = ":memory:" in sync_url or sync_url.endswith("://")
    args: dict[str, Any] = {"check_same_thread": False}
    if memory:  # one shared connection, used by one thread at a time: the only way it persists
        engine = create_sync_engine(sync_url, poolclass=pool.StaticPool, connect_args=args, **json)
    else:
        # Every use commits or rolls back (`_Sqlite._hop`); no reset needed on check-in.
        engine = create_sync_engine(
            sync_url, poolclass=pool.QueuePool, connect_args=args, pool_reset_on_return=None, **sizes, **json
        )
    _sqlite_listeners(engine, busy_timeout_ms)
    return _Sqlite(engine, clock, 1 if memory else pool_size + max_overflow)


def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Have the pool replace a connection the server closed, or an idle one that does not answer
    (SQLAlchemy's disconnect handling: it invalidates it and connects anew). See the module docstring."""
    driver = dbapi_conn.driver_connection
    if driver.is_closed():
        raise DisconnectionError("the server closed the connection")
    since = record.info.get("idle_since")
    if since is not None and time.monotonic() - since > IDLE_PING:
        try:
            dbapi_conn.await_(driver.execute("SELECT 1", timeout=PING_TIMEOUT))
        except Exception as exc:
            raise DisconnectionError("the connection did not answer a ping") from exc


def _checkin(dbapi_conn: Any, record: Any) -> None:
    if dbapi_conn is not None:
        record.info["idle_since"] = time.monotonic()


def _disconnected(exc: BaseException) -> bool:
    """Whether `exc` says the connection died (SQLAlchemy invalidated it) or was closed already."""
    return (isinstance(exc, DBAPIError) and exc.connection_invalidated) or _unsent(exc)


def _sqlite_listeners(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see the module docstring)
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        _wal(dbapi_conn, busy_timeout_ms / 1000)
        for pragma in ("foreign_keys=ON", "synchronous=NORMAL"):  # WAL + NORMAL: commits survive a crash
            dbapi_conn.execute(f"PRAGMA {pragma}")  # of the process


def _wal(dbapi_conn: Any, timeout: float) -> None:
    """Put the file in WAL mode (kept in the file: later connections find it so). A new file's first
    connections can meet while one of them holds its lock, and SQLite answers the switch with "database
    is locked" at once, busy timeout or not (it would deadlock otherwise): retried here within it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
