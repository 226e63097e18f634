"""`write_together`: many runs' batches (the checkpoint tick's writes) in one body, storing exactly what
each batch's own `write()` stores, in the order each batch made its writes; and the tick that uses it."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from gateway.engine.checkpoints import Checkpoints
from gateway.engine.store import Batch, Store, StoreUnavailable, write_together
from tests.engine.store.helpers import RoundTrips, tenant, thread_with_assistant, tool_step_details
from tests.engine.store.test_batch import transactions
from tests.postgres import PgServer, fresh_pg_db

pytestmark = pytest.mark.asyncio


def _text(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": value, "annotations": []}}]


@dataclass
class _Run:
    who: str
    thread: str
    run: str
    assistant: str
    message: dict[str, Any] = field(default_factory=dict)


async def _started(store: Store) -> _Run:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    run = await store.runs.create(who, t["id"], a["id"])
    assert await store.runs.begin(run["id"]) is not None
    return _Run(who, t["id"], run["id"], a["id"])


def _reply(store: Store, r: _Run, text: str, *, tool_step_first: bool) -> Batch:
    """A batch as a tick finds it: the reply's creations still waiting (after a tool-calls step's, with
    `tool_step_first`), and the tick's checkpoint of its text."""
    batch = store.batch()
    if tool_step_first:
        batch.create_step(
            r.who,
            thread_id=r.thread,
            run_id=r.run,
            assistant_id=r.assistant,
            step_details=tool_step_details("c1"),
        )
    r.message, _ = batch.start_reply(r.who, thread_id=r.thread, run_id=r.run, assistant_id=r.assistant)
    batch.checkpoint(r.message["id"], _text(text))
    return batch


_ANCHORS = text(
    "SELECT m.role FROM run_steps s JOIN messages m ON m.seq = s.anchor_seq"
    " WHERE s.run_id = :run ORDER BY s.seq"
)


def _checkpoint(store: Store, r: _Run, text: str) -> Batch:
    batch = store.batch()
    batch.checkpoint(r.message["id"], _text(text))
    return batch


async def _seen(store: Store, r: _Run) -> list[Any]:
    """What a reader sees of the run's thread, ids and stamps left out: its messages, the run's steps in
    order, and the history the next run would be given."""
    messages = (await store.messages.list(r.who, r.thread, order="asc"))["data"]
    steps = (await store.steps.list(r.who, r.thread, r.run, order="asc"))["data"]
    history = await store.history(r.who, r.thread)
    anchors = await store.db.read(
        lambda conn: conn.execute(_ANCHORS, {"run": r.run}).scalars().all()
    )  # where each step sits in the thread's history: after the message it was created behind
    return [
        [(m["role"], m["status"], m["content"]) for m in messages],
        [(s["type"], s["status"], s["step_details"]["type"]) for s in steps],
        [(h.role, h.status, h.content, len(h.tool_calls)) for h in history],
        anchors,
    ]


async def test_many_batches_store_what_each_batch_stores_on_its_own(store: Store) -> None:
    shapes = [False, True, False, True, False]
    together = [await _started(store) for _ in shapes]
    alone = [await _started(store) for _ in shapes]
    batches = [
        _reply(store, r, f"reply {i}", tool_step_first=t)
        for i, (r, t) in enumerate(zip(together, shapes, strict=True))
    ]
    with transactions(store) as seen:
        await write_together(batches)
    assert seen == [1]  # one transaction for every run (PostgreSQL: one autocommit call)
    assert all(len(b) == 0 for b in batches)
    for i, (r, t) in enumerate(zip(alone, shapes, strict=True)):
        assert await _reply(store, r, f"reply {i}", tool_step_first=t).write()
    # the steady state: the replies stored, each tick an UPDATE of their text
    with transactions(store) as seen:
        await write_together([_checkpoint(store, r, f"reply {i}, more") for i, r in enumerate(together)])
    assert seen == [1]
    for i, r in enumerate(alone):
        assert await _checkpoint(store, r, f"reply {i}, more").write()
    for i, (a, b) in enumerate(zip(together, alone, strict=True)):
        got, expected = await _seen(store, a), await _seen(store, b)
        assert got == expected
        assert got[0][-1] == ("assistant", "in_progress", _text(f"reply {i}, more"))
        # the tool-calls step created first stays first: behind the user's message, not the reply
        assert got[3] == (["user", "assistant"] if shapes[i] else ["assistant"])
        assert got[1] == ([("tool_calls", "in_progress", "tool_calls")] if shapes[i] else []) + [
            ("message_creation", "in_progress", "message_creation")
        ]


async def test_a_tick_of_many_runs_is_one_round_trip_on_postgresql(pg_server: PgServer) -> None:
    """Counted at PostgreSQL's wire (`RoundTrips`): one `gateway_batch` call for every run."""
    store = await Store.open(await fresh_pg_db(pg_server, migrated=True), pool_size=1, max_overflow=0)
    runs = [await _started(store) for _ in range(21)]
    for warm in range(2):  # the first call prepares the statement
        batches = [_reply(store, r, f"warm {warm}", tool_step_first=False) for r in runs[warm : warm + 1]]
        await write_together(batches)
    counter = RoundTrips(store)
    try:
        batches = [_reply(store, r, "x", tool_step_first=False) for r in runs[2:21]]
        batches += [_checkpoint(store, r, "y") for r in runs[:2]]
        with counter:
            await write_together(batches)
        assert counter.trips == 1
    finally:
        counter.close()
        await store.close()


async def test_a_failed_joint_write_gives_each_batch_its_creations_back(store: Store) -> None:
    good, bad = await _started(store), await _started(store)
    batches = [_reply(store, r, text, tool_step_first=False) for r, text in ((good, "kept"), (bad, "lost"))]
    await store.threads.delete(bad.who, bad.thread)  # its reply can no longer be inserted
    with pytest.raises((IntegrityError, sqlite3.IntegrityError)):  # SQLite's straight from its driver
        await write_together(batches)
    assert [len(b) for b in batches] == [2, 2]  # the creations back (the checkpoint folded into one)
    assert (await store.messages.list(good.who, good.thread))["data"][0]["role"] == "user"  # nothing written
    assert await batches[0].write()
    assert (await _seen(store, good))[0][-1] == ("assistant", "in_progress", _text("kept"))


@contextmanager
def bodies(store: Store) -> Iterator[list[int]]:
    """Counts the write bodies handed to the store inside the block: `[n]`."""
    db, seen = store.db, [0]
    write = db.write

    async def counted(body: Any) -> Any:
        seen[0] += 1
        return await write(body)

    db.write = counted  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        del db.write


def _job(store: Store, r: _Run, text: str) -> Any:
    """What the tick reads of a run's job: its emitter's open message (id, content) and its batch."""
    batch = store.batch()
    r.message, _ = batch.start_reply(r.who, thread_id=r.thread, run_id=r.run, assistant_id=r.assistant)
    message = SimpleNamespace(id=r.message["id"], content=lambda: _text(text))
    return SimpleNamespace(emitter=SimpleNamespace(message=message, terminal=False), batch=batch)


async def test_the_tick_writes_every_run_together_and_falls_back_to_each_on_its_own(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    runs = [await _started(store) for _ in range(4)]
    jobs = {r.run: _job(store, r, f"text {i}") for i, r in enumerate(runs)}
    tick = Checkpoints(jobs, interval=1.0)
    with bodies(store) as written:
        await tick.tick()
    assert written == [1]  # one body for every run (group commit alone would make one per run)
    for i, r in enumerate(runs):
        assert (await _seen(store, r))[0][-1] == ("assistant", "in_progress", _text(f"text {i}"))
    bad = await _started(store)
    jobs = {r.run: _job(store, r, f"more {i}") for i, r in enumerate([*runs[:2], bad])}
    await store.threads.delete(bad.who, bad.thread)
    with caplog.at_level(logging.WARNING, logger="gateway.engine"):
        await Checkpoints(jobs, interval=1.0).tick()
    for i, r in enumerate(runs[:2]):  # the joint write failed on `bad`: the others are written alone
        seen_now = await _seen(store, r)
        assert seen_now[0][-1] == ("assistant", "in_progress", _text(f"more {i}"))
    logged = [rec.getMessage() for rec in caplog.records]
    assert logged == [f"checkpoint of run {bad.run} not written: IntegrityError"]


async def test_a_tick_while_the_store_is_unavailable_is_one_warning_not_one_per_run(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    runs = [await _started(store) for _ in range(3)]
    jobs = {r.run: _job(store, r, f"text {i}") for i, r in enumerate(runs)}
    db, write = store.db, store.db.write
    calls = 0

    async def unavailable(body: Any) -> Any:
        nonlocal calls
        calls += 1
        raise StoreUnavailable("down")

    db.write = unavailable  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.engine"):
            await Checkpoints(jobs, interval=1.0).tick()
    finally:
        del db.write
    assert calls == 1  # no run-by-run retry against a store that is down
    assert [rec.getMessage() for rec in caplog.records] == [
        "checkpoint tick not written: the store is unavailable"
    ]
    assert all(len(job.batch) == 2 for job in jobs.values())  # the creations wait for the next write
    assert db.write == write
