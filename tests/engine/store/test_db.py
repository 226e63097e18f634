"""SQLite's writer keeps one connection (gateway/engine/store/db.py `_Sqlite._write_kept`): every write goes
through it, a body's error only rolls back, a database error puts it aside, the reads share the rest of the
pool without waiting on it, and closing the store gives it back."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Connection, Engine, event

from gateway.engine.store import Store, StoreUnavailable, migrate
from tests.engine.store.helpers import tenant

pytestmark = pytest.mark.asyncio

WHO = tenant()


async def _open(tmp_path: Path, **sizes: Any) -> Store:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    await migrate(url)
    return await Store.open(url, **sizes)


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await _open(tmp_path)
    try:
        await store.db.write(lambda conn: conn.exec_driver_sql("CREATE TABLE scratch (x INTEGER)"))
        yield store
    finally:
        await store.close()


def _engine(store: Store) -> Engine:
    engine = store.db.engine
    assert isinstance(engine, Engine)
    return engine


@contextmanager
def checkouts(store: Store) -> Iterator[list[int]]:
    """The pool's checkouts inside the block, one entry each."""
    seen: list[int] = []

    def count(*_: Any) -> None:
        seen.append(1)

    pool = _engine(store).pool
    event.listen(pool, "checkout", count)
    try:
        yield seen
    finally:
        event.remove(pool, "checkout", count)


def _insert(x: int) -> Any:
    return lambda conn: conn.exec_driver_sql(f"INSERT INTO scratch VALUES ({x})")


async def _scratch(store: Store) -> list[int]:
    rows = await store.db.read(lambda conn: conn.exec_driver_sql("SELECT x FROM scratch ORDER BY x").all())
    return [row[0] for row in rows]


async def test_writes_share_one_kept_connection(store: Store) -> None:
    kept = store.db.kept  # type: ignore[attr-defined]
    assert isinstance(kept, Connection)
    with checkouts(store) as taken:
        for x in range(20):
            await store.db.write(_insert(x))
        await asyncio.gather(*(store.assistants.create(WHO, model="MiniMax-M2.7") for _ in range(5)))
    assert taken == []  # not one checkout for 25 writes (however the group commit shares them out)
    assert store.db.kept is kept  # type: ignore[attr-defined]
    assert await _scratch(store) == list(range(20))
    assert len((await store.assistants.list(WHO))["data"]) == 5


async def test_a_bodys_error_rolls_back_and_keeps_the_connection(store: Store) -> None:
    kept = store.db.kept  # type: ignore[attr-defined]

    def failing(conn: Connection) -> None:
        _insert(1)(conn)
        raise ValueError("the body's own")

    with checkouts(store) as taken:
        with pytest.raises(ValueError, match="the body's own"):
            await store.db.write(failing)
        await store.db.write(_insert(2))
    assert taken == []
    assert store.db.kept is kept  # type: ignore[attr-defined]
    assert await _scratch(store) == [2]  # the failed body's row rolled back, the next one committed


async def test_a_database_error_puts_the_connection_aside(store: Store) -> None:
    kept = store.db.kept  # type: ignore[attr-defined]
    assert isinstance(kept, Connection)
    raw = kept.connection.dbapi_connection
    assert raw is not None

    def broken(conn: Connection) -> None:
        _insert(1)(conn)
        conn.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")

    with checkouts(store) as taken:
        with pytest.raises(StoreUnavailable):  # SQLite's OperationalError, as for every transaction
            await store.db.write(broken)
        assert store.db.kept is None  # type: ignore[attr-defined]
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            raw.execute("SELECT 1")  # discarded, not back in the pool for the next transaction
        await store.db.write(_insert(2))
    assert len(taken) == 1  # a fresh connection for the next write
    assert store.db.kept is not None  # type: ignore[attr-defined]
    assert await _scratch(store) == [2]


async def test_reads_do_not_wait_for_the_writers_connection(tmp_path: Path) -> None:
    """Two connections, no overflow: the writer keeps one, so the reads run one at a time on the other,
    never waiting out the pool's timeout for a connection the writer holds."""
    store = await _open(tmp_path, pool_size=2, max_overflow=0, pool_timeout=0.2)
    try:
        await store.assistants.create(WHO, model="MiniMax-M2.7")  # the writer takes its connection
        reads = [store.db.read(lambda _conn: time.sleep(0.3)) for _ in range(3)]
        write = store.assistants.create(WHO, model="MiniMax-M2.7")
        await asyncio.gather(*reads, write)  # none times out
        assert len((await store.assistants.list(WHO))["data"]) == 2
    finally:
        await store.close()


async def test_closing_gives_the_kept_connection_back(tmp_path: Path) -> None:
    store = await _open(tmp_path)
    await store.assistants.create(WHO, model="MiniMax-M2.7")
    pool = _engine(store).pool
    assert pool.checkedout() == 1  # type: ignore[attr-defined]  # the writer's
    await store.close()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
