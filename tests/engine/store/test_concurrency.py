"""Races on a real database: one active run per thread, no message slips in beside a run, CAS transitions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.engine.store import Store, ThreadBusy
from gateway.engine.store.guards import lock_idle
from gateway.engine.store.ids import new_id
from gateway.engine.store.tables import runs
from tests.engine.store.helpers import tenant, thread_with_assistant

pytestmark = pytest.mark.asyncio


def _run_row(who: str, thread_id: str, assistant_id: str, status: str) -> dict[str, object]:
    return {
        "id": new_id("run"),
        "tenant": who,
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "created_at": 1,
        "status": status,
        "model": "m",
        "instructions": "",
        "tools": [],
        "metadata": {},
        "truncation_strategy": {"type": "auto"},
        "parallel_tool_calls": True,
    }


@asynccontextmanager
async def held_write(store: Store, body: Callable[[Connection], Any]) -> AsyncIterator[None]:
    """A write transaction that has run `body` and stays open (uncommitted) until the block ends."""
    engine = store.db.engine
    if isinstance(engine, AsyncEngine):
        async with engine.begin() as conn:
            await conn.run_sync(body)
            yield
        return
    assert isinstance(engine, Engine)
    ready, done = threading.Event(), threading.Event()

    def hold() -> None:
        with engine.connect() as conn:
            conn.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
            with conn.begin():  # as the store's writes do (gateway/engine/store/db.py `_Sqlite._hop`)
                body(conn)
                ready.set()
                done.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    await asyncio.to_thread(ready.wait, 10)
    try:
        yield
    finally:
        done.set()
        await asyncio.to_thread(holder.join)


async def test_twenty_concurrent_create_run_one_wins(store: Store) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    results = await asyncio.gather(
        *(store.runs.create(who, t["id"], a["id"]) for _ in range(20)), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, dict)]
    busy = [r for r in results if isinstance(r, ThreadBusy)]
    assert len(won) == 1 and len(busy) == 19, results
    assert {b.run_id for b in busy} == {won[0]["id"]}
    assert len((await store.runs.list(who, t["id"]))["data"]) == 1


async def test_the_database_itself_allows_one_active_run(store: Store) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)

    def two(conn: Connection) -> None:
        conn.execute(insert(runs), _run_row(who, t["id"], a["id"], "requires_action"))
        conn.execute(insert(runs), _run_row(who, t["id"], a["id"], "completed"))  # inactive: fine

    await store.db.write(two)
    with pytest.raises(IntegrityError):
        await store.db.write(
            lambda conn: conn.execute(insert(runs), _run_row(who, t["id"], a["id"], "cancelling"))
        )


async def test_add_message_waits_for_a_run_being_created_then_refuses(store: Store) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    row = _run_row(who, t["id"], a["id"], "queued")

    def create_run_uncommitted(conn: Connection) -> None:
        lock_idle(conn, who, t["id"])
        conn.execute(insert(runs), row)

    async with held_write(store, create_run_uncommitted):
        adding = asyncio.create_task(store.messages.add(who, t["id"], {"role": "user", "content": "sneak"}))
        await asyncio.sleep(0.3)
        assert not adding.done()  # blocked on the thread row lock (PostgreSQL) / the write lock (SQLite)
    with pytest.raises(ThreadBusy) as e:
        await adding
    assert e.value.run_id == row["id"]
    assert len((await store.messages.list(who, t["id"]))["data"]) == 1


async def test_concurrent_transitions_one_wins(store: Store) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    run = await store.runs.create(who, t["id"], a["id"])
    moves = await asyncio.gather(
        *(store.runs.transition(who, run["id"], ["queued"], "in_progress") for _ in range(10)),
        *(store.runs.transition(who, run["id"], ["queued"], "cancelling") for _ in range(10)),
    )
    winners = [m for m in moves if m is not None]
    assert len(winners) == 1
    final = await store.runs.retrieve(who, t["id"], run["id"])
    assert final["status"] == winners[0]["status"]
    assert await store.runs.transition(who, run["id"], ["queued"], "in_progress") is None
