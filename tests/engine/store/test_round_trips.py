"""PostgreSQL: a run's store work in at most six round trips (three: one per transaction, issue 20;
create-thread-and-run's thread in the first), and the one-call path (migrations 0004 and 0005's
functions) stores exactly what the statements one by one store."""

from __future__ import annotations

import asyncio
import re
from functools import partial
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import JSON, Connection, Table, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from gateway.engine.record import ACTIVE
from gateway.engine.store import Store, db, render, tables
from gateway.engine.store.rows import NewMessage
from tests.bench.store_cpu import TENANT, one_run
from tests.engine.store.conftest import Clock
from tests.engine.store.helpers import RoundTrips, required_action, tool_step_details
from tests.postgres import PgServer, fresh_pg_db

pytestmark = pytest.mark.asyncio
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def _text(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": value, "annotations": []}}]


async def _bench_runs(store: Store, counter: RoundTrips, runs: int) -> list[int]:
    """Round trips of each of `runs` bench runs (tests/bench/store_cpu.py), after a warm-up."""
    assistant = await store.assistants.create(TENANT, model="MiniMax-M2.7")
    threads = [
        (await store.threads.create(TENANT, messages=[{"role": "user", "content": "x"}]))["id"]
        for _ in range(3 + runs)
    ]
    for thread in threads[:3]:  # prepares the statements (asyncpg caches them per connection)
        await one_run(store, thread, assistant["id"])
    counts = []
    for thread in threads[3:]:
        with counter:
            await one_run(store, thread, assistant["id"])
        counts.append(counter.trips)
    return counts


async def test_a_run_takes_at_most_six_round_trips(pg_server: PgServer) -> None:
    store = await Store.open(await fresh_pg_db(pg_server, migrated=True), pool_size=1, max_overflow=0)
    counter = RoundTrips(store)
    try:
        counts = await _bench_runs(store, counter, 5)
        assert max(counts) <= 6, counts
        assert counts == [3] * 5, counts  # one per transaction: create-started, checkpoint, end
        assert counter.sent.count("P") == 0  # no statement prepared again
        store.db.functions = False  # the statements one by one: the counter does see them
        assert min(await _bench_runs(store, counter, 2)) > 6
    finally:
        counter.close()
        await store.close()


async def test_a_client_polling_a_run_costs_one_round_trip_a_read(pg_server: PgServer) -> None:
    """Reading a run, a message, a step, a thread or an assistant by id: the one SELECT in autocommit
    (`Db.first`), not BEGIN, SELECT, COMMIT; and what it reads is what SQLAlchemy's path reads."""
    store = await Store.open(await fresh_pg_db(pg_server, migrated=True), pool_size=1, max_overflow=0)
    counter = RoundTrips(store)
    try:
        assistant = await store.assistants.create(TENANT, model="MiniMax-M2.7", temperature=0.5)
        thread, run, _ = await store.runs.create_started_in_new_thread(
            TENANT, assistant["id"], thread_messages=[{"role": "user", "content": "x"}]
        )
        msg, step = await store.messages.start(
            TENANT, thread_id=thread["id"], run_id=run["id"], assistant_id=assistant["id"]
        )
        reads = {
            "run": partial(store.runs.retrieve, TENANT, thread["id"], run["id"]),
            "message": partial(store.messages.retrieve, TENANT, thread["id"], msg["id"]),
            "step": partial(store.steps.retrieve, TENANT, thread["id"], run["id"], step["id"]),
            "thread": partial(store.threads.retrieve, TENANT, thread["id"]),
            "assistant": partial(store.assistants.retrieve, TENANT, assistant["id"]),
        }
        for read in reads.values():  # prepares the statements
            await read()
        for name, read in reads.items():
            with counter:
                got = await read()
            assert counter.trips == 1, (name, counter.sent)
            assert got == await _through_sqlalchemy(store, name, got["id"]), name
        assert (await reads["run"]())["temperature"] == 0.5
    finally:
        counter.close()
        await store.close()


async def _through_sqlalchemy(store: Store, kind: str, object_id: str) -> dict[str, Any]:
    """The object as SQLAlchemy's own path reads and renders it (a transaction, `conn.execute`)."""
    table = getattr(tables, {"run": "runs", "message": "messages", "step": "run_steps"}.get(kind, kind + "s"))
    row = await store.db.read(
        lambda conn: conn.execute(select(table).where(table.c.id == object_id)).mappings().one()
    )
    return getattr(render, kind)(row)  # type: ignore[no-any-return]


async def test_create_thread_and_run_starts_in_one_round_trip(pg_server: PgServer) -> None:
    """The thread, its messages and the started run: one call of `gateway_start_thread_run` (0005)."""
    store = await Store.open(await fresh_pg_db(pg_server, migrated=True), pool_size=1, max_overflow=0)
    counter = RoundTrips(store)
    first: list[NewMessage] = [{"role": "user", "content": "x"}]
    try:
        assistant = await store.assistants.create(TENANT, model="MiniMax-M2.7")
        for _ in range(3):  # prepares the statement
            await store.runs.create_started_in_new_thread(TENANT, assistant["id"], thread_messages=first)
        counts = []
        for _ in range(3):
            with counter:
                await store.runs.create_started_in_new_thread(TENANT, assistant["id"], thread_messages=first)
            counts.append(counter.trips)
        assert counts == [1, 1, 1], counts
        store.db.functions = False  # the statements one by one: the counter does see them
        with counter:
            await store.runs.create_started_in_new_thread(TENANT, assistant["id"], thread_messages=first)
        assert counter.trips > 1
    finally:
        counter.close()
        await store.close()


async def test_dead_pooled_connections_are_replaced_without_a_ping(pg_server: PgServer) -> None:
    """No pre-ping: connections the server closed (a restart, a failover) are replaced when checked
    out; no request fails for them, writes first."""
    url = await fresh_pg_db(pg_server, migrated=True)
    store = await Store.open(url, pool_size=3, max_overflow=0)
    try:
        a = await store.assistants.create("t", model="m")
        threads = [(await store.threads.create("t"))["id"] for _ in range(2)]
        await asyncio.gather(*(store.threads.retrieve("t", t) for t in threads * 2))  # pooled: several
        engine = store.db.engine
        assert isinstance(engine, AsyncEngine)  # PostgreSQL: the asyncpg engine
        pool = engine.sync_engine.pool
        assert isinstance(pool, QueuePool)  # opened with pool_size and max_overflow: a queue pool
        assert pool.checkedin() > 1
        killer = await asyncpg.connect(pg_server.dsn())
        try:
            await killer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                url.rsplit("/", 1)[1],
            )
        finally:
            await killer.close()
        await asyncio.sleep(0.2)
        runs = await asyncio.gather(
            *(store.runs.create_started("t", t, a["id"]) for t in threads)
        )  # one call
        assert [r["status"] for r, _ in runs] == ["queued", "queued"]
        await store.assistants.create("t", model="m")  # a write transaction
        assert (await store.threads.retrieve("t", threads[0]))["id"] == threads[0]
    finally:
        await store.close()


class _Proxy:
    """A TCP relay to the server whose current connections can go silent (a host gone without a FIN:
    nothing reaches the client to say so); connections made after that relay as before."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._live: list[asyncio.Event] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def silence(self) -> None:
        for live in self._live:
            live.clear()

    async def close(self) -> None:
        self._server.close()
        for w in self._writers:
            w.close()
        for task in self._tasks:
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        live = asyncio.Event()
        live.set()
        self._live.append(live)
        self._writers += [writer, up_writer]
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pump(src, dst, live))
            self._tasks.add(task)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, live: asyncio.Event) -> None:
        while data := await src.read(65536):
            if live.is_set():  # silent: swallowed, as by a host that is gone
                dst.write(data)


async def test_an_idle_connection_that_died_unseen_is_pinged_and_replaced(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that died without a word (no FIN: asyncpg sees nothing) fails the ping it gets when
    checked out after `IDLE_PING` s, and is replaced; a connection in use is never pinged."""
    url = await fresh_pg_db(pg_server, migrated=True)
    proxy = _Proxy(pg_server.host, pg_server.port)
    await proxy.start()
    store = await Store.open(
        url.replace(f":{pg_server.port}/", f":{proxy.port}/"), pool_size=1, max_overflow=0
    )
    counter = RoundTrips(store)
    try:
        thread = await store.threads.create("t")
        await store.threads.retrieve("t", thread["id"])  # prepared
        with counter:
            await store.threads.retrieve("t", thread["id"])
        assert counter.trips == 1  # the SELECT alone (autocommit, `Db.first`): no ping
        monkeypatch.setattr(db, "IDLE_PING", 0.0)
        monkeypatch.setattr(db, "PING_TIMEOUT", 0.5)
        with counter:
            await store.threads.retrieve("t", thread["id"])
        assert counter.trips == 2 and counter.sent[0] == "Q", counter.sent  # the ping first
        proxy.silence()
        a = await store.assistants.create("t", model="m")  # a write: on the connection that replaced it
        run, _ = await store.runs.create_started("t", thread["id"], a["id"])
        assert run["status"] == "queued"
    finally:
        counter.close()
        await proxy.close()  # first: a silent connection would hold the pool's close up
        await store.close()


_ID = re.compile(r"\b(?:msg|run|step|thread|asst)_[A-Za-z0-9]{24}\b")


async def _lifecycle(store: Store, clock: Clock) -> str:
    """Every kind of write the one-call path makes, on a new thread: its thread id."""
    a = await store.assistants.create("t", model="MiniMax-M2.7", temperature=1.0, top_p=0.25, tools=[])
    t = await store.threads.create("t", messages=[{"role": "user", "content": "hi"}])
    queued = await store.runs.create(
        "t",
        t["id"],
        a["id"],
        instructions=None,
        metadata={"k": "v", "a": "b"},
        additional_messages=[{"role": "user", "content": _text("more"), "metadata": {"z": "1", "a": "2"}}],
        response_format={"type": "json_object"},
        lease_owner="me",
    )
    batch = store.batch()
    assert await store.runs.begin(queued["id"]) is not None
    msg, step = batch.start_reply("t", thread_id=t["id"], run_id=queued["id"], assistant_id=a["id"])
    batch.checkpoint(msg["id"], _text("Hel"))
    assert await batch.write()
    clock.now += 1
    batch.checkpoint(msg["id"], _text("Hello"))
    tool = batch.create_step(
        "t",
        thread_id=t["id"],
        run_id=queued["id"],
        assistant_id=a["id"],
        step_details=tool_step_details("c1"),
    )
    assert await batch.write()
    batch.complete_message(msg["id"], content=_text("Hello!"), replay={"reasoning": "r", "tool_calls": []})
    batch.complete_step(step["id"], step_details=step["step_details"], usage=USAGE)
    batch.update_step(tool["id"], step_details=tool_step_details("c1"), replay={"tool_calls": [{"id": "c1"}]})
    batch.add_tool_results(
        "t", step_id=tool["id"], run_id=queued["id"], thread_id=t["id"], outputs=[("c1", "42")]
    )
    batch.complete_step(tool["id"], status="failed", last_error={"code": "server_error", "message": "x"})
    batch.transition(
        queued["id"],
        ACTIVE,
        "requires_action",
        required_action=required_action("c1"),
        expires_at=clock.now + 9,
    )
    assert await batch.write()
    batch.transition(queued["id"], ("in_progress",), "completed")
    assert not await batch.write()  # the guard: nothing written
    batch.transition(queued["id"], ("requires_action",), "in_progress")
    assert await batch.write()
    clock.now += 1
    batch.transition(
        queued["id"],
        ACTIVE,
        "incomplete",
        incomplete_details={"reason": "max_completion_tokens"},
        usage=USAGE,
    )
    assert await batch.write()
    run, history = await store.runs.create_started(
        "t",
        t["id"],
        a["id"],
        lease_owner="me",
        temperature=0.5,
        model="MiniMax-M3",
        instructions="run says",
        tools=[{"type": "code_interpreter"}],
    )
    assert run["temperature"] == 0.5 and isinstance(a["temperature"], float)
    assert (run["model"], run["instructions"], run["tools"]) == (
        "MiniMax-M3",
        "run says",
        [{"type": "code_interpreter"}],
    )
    assert [h.role for h in history] == ["user", "user", "assistant", "assistant", "tool"]
    return str(t["id"])


def _sql_nulls(table: Table) -> str:
    """Which of the table's JSON columns hold SQL NULL (row_to_json shows it as JSON null, as stored)."""
    cases = ", ".join(
        f"CASE WHEN x.{c.name} IS NULL THEN '{c.name}' END" for c in table.c if isinstance(c.type, JSON)
    )
    return f"' sql nulls: ' || concat_ws(',', {cases})"


async def _stored(store: Store, thread_id: str) -> list[str]:
    """The thread's rows as PostgreSQL's text of them (JSON columns as stored, and which are SQL NULL),
    ids numbered in order."""
    queries = [
        f"SELECT row_to_json(x)::text || {_sql_nulls(tables.runs)} FROM runs x"
        " WHERE thread_id = :t ORDER BY seq",
        f"SELECT row_to_json(x)::text || {_sql_nulls(tables.messages)} FROM messages x"
        " WHERE thread_id = :t ORDER BY seq",
        f"SELECT row_to_json(x)::text || {_sql_nulls(tables.run_steps)} || (SELECT count(*) FROM messages m"
        " WHERE m.thread_id = x.thread_id AND m.seq <= x.anchor_seq) FROM run_steps x"
        " WHERE thread_id = :t ORDER BY seq",
        "SELECT row_to_json(x)::text FROM tool_results x WHERE thread_id = :t ORDER BY seq",
    ]
    rows = await store.db.read(
        lambda conn: [r[0] for q in queries for r in conn.execute(text(q), {"t": thread_id})]
    )
    names: dict[str, str] = {}
    out = []
    for row in rows:
        row = _ID.sub(lambda m: names.setdefault(m.group(0), f"id{len(names)}"), row)
        out.append(re.sub(r'"(seq|anchor_seq)":\d+', r'"\1":_', row))
    return out


def _thread_row(conn: Connection, thread_id: str) -> str:
    return str(
        conn.execute(
            text("SELECT row_to_json(x)::text FROM threads x WHERE id = :t"), {"t": thread_id}
        ).scalar_one()
    )


async def test_a_new_threads_run_stores_by_one_call_what_the_statements_store(pg_server: PgServer) -> None:
    clock = Clock()
    store = await Store.open(await fresh_pg_db(pg_server, migrated=True), clock=clock)
    stored: list[list[str]] = []
    try:
        assistant = await store.assistants.create("t", model="MiniMax-M2.7", temperature=1.0, tools=[])
        for functions in (True, False):
            store.db.functions = functions
            clock.now = Clock().now
            thread, _, _ = await store.runs.create_started_in_new_thread(
                "t",
                assistant["id"],
                thread_metadata={"k": "v"},
                thread_messages=[{"role": "user", "content": "one", "metadata": {"m": "1"}}],
                additional_messages=[{"role": "user", "content": _text("two"), "attachments": []}],
                lease_owner="me",
                top_p=0.5,
                tools=[{"type": "code_interpreter"}],
            )
            found = await store.db.read(partial(_thread_row, thread_id=thread["id"]))
            stored.append([found.replace(thread["id"], "thread"), *await _stored(store, thread["id"])])
    finally:
        await store.close()
    assert len(stored[0]) == 1 + 1 + 2  # the thread, the run, its two messages
    assert re.sub(r'"seq":\d+', "", stored[0][0]) == re.sub(r'"seq":\d+', "", stored[1][0])
    assert stored[0][1:] == stored[1][1:]


async def test_one_call_stores_what_the_statements_store(pg_server: PgServer) -> None:
    clock = Clock()
    store = await Store.open(await fresh_pg_db(pg_server, migrated=True), clock=clock)
    try:
        by_call = await _stored(store, await _lifecycle(store, clock))
        clock.now = Clock().now
        store.db.functions = False
        by_statements = await _stored(store, await _lifecycle(store, clock))
    finally:
        await store.close()
    assert len(by_call) == 2 + 3 + 2 + 1  # runs, messages (two of the client's, the reply), steps, results
    assert by_call == by_statements
