"""Group commit on both databases: writes queued together share one transaction, and each caller still
gets exactly its own body's outcome (result, its own exception, or the database's unavailability)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from gateway.engine.store import Store, StoreUnavailable
from gateway.engine.store.db import Db
from gateway.engine.store.group import GroupCommit

pytestmark = pytest.mark.asyncio


def _insert(n: int) -> Callable[[Connection], int]:
    def body(conn: Connection) -> int:
        conn.execute(text("INSERT INTO probe (n) VALUES (:n)"), {"n": n})
        return n * 10

    return body


async def _probe_table(db: Db) -> None:
    await db.write(lambda conn: conn.execute(text("CREATE TABLE probe (n INTEGER PRIMARY KEY)")))


async def _rows(db: Db) -> list[int]:
    return await db.read(lambda conn: [r[0] for r in conn.execute(text("SELECT n FROM probe ORDER BY n"))])


async def test_writes_queued_together_share_one_transaction(store: Store) -> None:
    db = store.db
    await _probe_table(db)
    before = db.transactions["write"]
    results = await asyncio.gather(*(db.write(_insert(n)) for n in range(100)))
    assert results == [n * 10 for n in range(100)]
    assert await _rows(db) == list(range(100))
    assert db.transactions["write"] - before == 1


async def test_a_failing_body_fails_alone_and_the_others_commit(store: Store) -> None:
    db = store.db
    await _probe_table(db)
    await db.write(_insert(5))
    before = db.transactions["write"]
    outcomes = await asyncio.gather(
        db.write(_insert(1)),
        db.write(_insert(5)),  # duplicate key: this one fails
        db.write(_insert(7)),
        return_exceptions=True,
    )
    assert outcomes[0] == 10 and outcomes[2] == 70
    assert isinstance(outcomes[1], IntegrityError)
    assert await _rows(db) == [1, 5, 7]
    assert db.transactions["write"] - before == 1 + 3  # the group, rolled back; then each alone


async def test_a_body_exception_reaches_its_caller_unchanged(store: Store) -> None:
    class Mine(Exception):
        pass

    def raises(conn: Connection) -> None:
        raise Mine("no")

    db = store.db
    await _probe_table(db)
    ok, bad = await asyncio.gather(db.write(_insert(3)), db.write(raises), return_exceptions=True)
    assert ok == 30 and type(bad) is Mine
    assert await _rows(db) == [3]


async def test_unavailable_fails_every_caller_at_once_without_retries() -> None:
    calls = 0

    async def down(body: Callable[[Connection], list[Any]]) -> list[Any]:
        nonlocal calls
        calls += 1
        raise StoreUnavailable("database unavailable (OSError)")

    group = GroupCommit(down)
    outcomes = await asyncio.gather(*(group.write(lambda conn: 1) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, StoreUnavailable) for o in outcomes)
    assert calls == 1


async def test_a_cancelled_caller_does_not_take_its_write_back(store: Store) -> None:
    db = store.db
    await _probe_table(db)
    task = asyncio.ensure_future(db.write(_insert(9)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await db.write(_insert(10))  # queued after it: commits after it
    assert await _rows(db) == [9, 10]


async def test_a_write_that_comes_while_one_commits_waits_for_the_next_transaction(store: Store) -> None:
    db = store.db
    await _probe_table(db)
    before = db.transactions["write"]
    first = asyncio.ensure_future(db.write(_insert(1)))
    await asyncio.sleep(0)  # the flusher has taken it: the next writes queue behind
    rest = [asyncio.ensure_future(db.write(_insert(n))) for n in range(2, 12)]
    await asyncio.gather(first, *rest)
    assert await _rows(db) == list(range(1, 12))
    assert db.transactions["write"] - before <= 2
