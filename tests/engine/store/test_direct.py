"""`direct`: the store's statements run on the driver (SQLite's cursor, asyncpg's connection) give what
SQLAlchemy's path gives, to the byte stored, in the same transaction, and fail as it fails; what it cannot
run the same way takes SQLAlchemy's path."""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.util import await_only

from gateway.engine.store import Store, direct
from gateway.engine.store.guards import _ACTIVE
from gateway.engine.store.history import _MESSAGES
from gateway.engine.store.rows import MESSAGE_INSERT, STEP_INSERT, reply_rows
from gateway.engine.store.runs import _LOCK_WITH_ASSISTANT
from gateway.engine.store.tables import messages, runs, threads
from gateway.engine.store.transitions import Move
from tests.engine.store.helpers import tenant, thread_with_assistant
from tests.postgres import PgServer, fresh_pg_db

pytestmark = pytest.mark.asyncio
_ONE_BIND = select(runs.c.status).where(runs.c.id == bindparam("b_id"))
_NO_BIND = select(func.count()).select_from(runs)
CONTENT = [{"type": "text", "text": {"value": 'héllo "quoted" \u2028 ✓', "annotations": []}}]
_TEXT_B = [{"type": "text", "text": {"value": "another", "annotations": []}}]
_MESSAGE_COUNT = select(func.count()).select_from(messages).where(messages.c.id == bindparam("b_id"))
_THREAD_TENANT = select(threads.c.tenant).where(threads.c.id == bindparam("b_id"))
_CONTENT = select(messages.c.content).where(messages.c.id == bindparam("b_id"))
_TOUCH = update(runs).where(runs.c.id == bindparam("b_id")).values(status=runs.c.status)


def _reply(thread: dict[str, Any], run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    msg, step = reply_rows(
        1_700_000_001, thread["who"], thread_id=thread["id"], run_id=run_id, assistant_id=thread["assistant"]
    )
    msg.update(content=CONTENT, replay={"reasoning": "why", "reasoning_details": [{"text": "≈"}]})
    return msg, step


async def _thread(store: Store) -> dict[str, Any]:
    who = tenant()
    assistant, thread = await thread_with_assistant(store, who)
    return {"id": thread["id"], "assistant": assistant["id"], "who": who}


def _stored(conn: Connection, msg_id: str) -> tuple[Any, ...]:
    """The message row as the database holds it (JSON as its text)."""
    row = conn.execute(text("SELECT * FROM messages WHERE id = :id"), {"id": msg_id}).one()
    return tuple(v for k, v in row._mapping.items() if k not in ("id", "seq"))


async def test_rows_written_directly_are_stored_as_sqlalchemy_stores_them(store: Store) -> None:
    thread = await _thread(store)
    run, _ = await store.runs.create_started(thread["who"], thread["id"], thread["assistant"])
    mine, step = _reply(thread, run["id"])
    theirs, _ = _reply(thread, run["id"])

    def body(conn: Connection) -> None:
        assert direct.execute(conn, MESSAGE_INSERT, mine) == 1
        conn.execute(MESSAGE_INSERT, theirs)
        assert _stored(conn, mine["id"]) == _stored(conn, theirs["id"])
        direct.execute(conn, STEP_INSERT, step)  # a bind inside a subquery: the anchor
        anchor = conn.execute(text("SELECT anchor_seq FROM run_steps WHERE id = :id"), {"id": step["id"]})
        newest = conn.execute(select(messages.c.seq).order_by(messages.c.seq.desc())).first()
        assert newest is not None and anchor.scalar() == newest[0]

    await store.db.write(body)


async def test_many_rows_in_one_executemany_are_stored_as_sqlalchemy_stores_them(store: Store) -> None:
    thread = await _thread(store)
    run, _ = await store.runs.create_started(thread["who"], thread["id"], thread["assistant"])
    mine = [_reply(thread, run["id"])[0] for _ in range(3)]
    theirs = [_reply(thread, run["id"])[0] for _ in range(3)]
    for n, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        a["content"] = b["content"] = [{"type": "text", "text": {"value": f"{n} ✓", "annotations": []}}]

    def body(conn: Connection) -> None:
        direct.execute_many(conn, MESSAGE_INSERT, mine)
        conn.execute(MESSAGE_INSERT, theirs)
        for a, b in zip(mine, theirs, strict=True):
            assert _stored(conn, a["id"]) == _stored(conn, b["id"])
        order = conn.execute(
            select(messages.c.id).where(messages.c.id.in_([m["id"] for m in mine])).order_by(messages.c.seq)
        )
        assert [r[0] for r in order] == [m["id"] for m in mine]  # inserted in the order given

    await store.db.write(body)


async def test_reads_and_returning_match_sqlalchemy(store: Store) -> None:
    thread = await _thread(store)
    run, _ = await store.runs.create_started(thread["who"], thread["id"], thread["assistant"])
    msg, _ = _reply(thread, run["id"])
    lock = {"thread_id": thread["id"], "tenant": thread["who"], "b_assistant": thread["assistant"]}
    history = {"b_thread": thread["id"], "b_tenant": thread["who"]}

    def body(conn: Connection) -> None:
        direct.execute(conn, MESSAGE_INSERT, msg)
        assert direct.first(conn, _LOCK_WITH_ASSISTANT, lock) == dict(
            conn.execute(_LOCK_WITH_ASSISTANT, lock).mappings().one()
        )
        assert direct.scalar(conn, _ACTIVE, {"thread_id": thread["id"]}) == run["id"]  # literal binds
        got = direct.rows(conn, _MESSAGES, history)
        want = conn.execute(_MESSAGES, history).all()
        assert [tuple(r) for r in got] == [tuple(r) for r in want]
        assert [r.content for r in got] == [r.content for r in want]  # attribute access, JSON decoded
        assert got[-1].replay == msg["replay"]
        move = Move.of(None, run["id"], ("in_progress",), "completed", 1_700_000_002, {"usage": {"n": 1}})
        found = direct.first(conn, move.stmt, move.key)  # UPDATE ... RETURNING, every column
        assert found is not None
        assert found["status"] == "completed" and found["usage"] == {"n": 1}
        assert found == dict(conn.execute(select(runs).where(runs.c.id == run["id"])).mappings().one())
        assert direct.first(conn, move.stmt, move.key) is None  # no longer in a from-status
        assert direct.scalar(conn, _ONE_BIND, {"b_id": run["id"]}) == "completed"  # one bind, no constant
        assert direct.scalar(conn, _NO_BIND, {}) == conn.execute(_NO_BIND).scalar()

    await store.db.write(body)


async def test_what_it_cannot_run_the_same_way_goes_through_sqlalchemy(store: Store) -> None:
    thread = await _thread(store)
    meta = MetaData()
    counted = Table("direct_defaults", meta, Column("id", String), Column("n", Integer, default=lambda: 7))
    expanding = select(runs.c.id).where(runs.c.status.in_(["queued", "in_progress"]))
    needs = select(runs.c.id).where(runs.c.id == bindparam("b_id"))

    def body(conn: Connection) -> None:
        assert direct._plan(_ACTIVE, ("thread_id",), conn.dialect) is not None
        assert direct._plan(expanding, (), conn.dialect) is None
        assert direct._plan(counted.insert(), ("id",), conn.dialect) is None
        assert direct._plan(needs, (), conn.dialect) is None
        meta.create_all(conn)
        direct.execute(conn, counted.insert(), {"id": "a"})  # the Python-side default still applies
        assert conn.execute(select(counted.c.n)).scalar() == 7
        assert direct.rows(conn, expanding, {}) == []
        with pytest.raises(StatementError):  # a required bind not given: SQLAlchemy's own error
            direct.first(conn, needs, {})
        assert direct.scalar(conn, _ACTIVE, {"thread_id": thread["id"]}) is None

    await store.db.write(body)


def _sqlalchemy_statements(store: Store) -> list[str]:
    """A list SQLAlchemy's own execution path appends each statement to (`before_cursor_execute`)."""
    engine = store.db.engine
    sync = engine if isinstance(engine, Engine) else engine.sync_engine
    seen: list[str] = []
    event.listen(sync, "before_cursor_execute", lambda _c, _cur, sql, *_: seen.append(sql))
    return seen


async def test_the_driver_runs_them_not_sqlalchemy(store: Store) -> None:
    thread = await _thread(store)
    run, _ = await store.runs.create_started(thread["who"], thread["id"], thread["assistant"])
    seen = _sqlalchemy_statements(store)

    def body(conn: Connection) -> None:
        assert direct.scalar(conn, _ONE_BIND, {"b_id": run["id"]}) == "in_progress"
        assert direct.execute(conn, _TOUCH, {"b_id": run["id"]}) == 1
        assert seen == []
        assert conn.execute(_ONE_BIND, {"b_id": run["id"]}).scalar() == "in_progress"  # the listener works
        assert len(seen) == 1

    await store.db.write(body)


async def test_the_first_statement_is_in_the_transaction(store: Store) -> None:
    """On PostgreSQL the driver's connection starts the transaction SQLAlchemy's adapter would have: a
    body that fails after a direct write leaves nothing of it."""
    thread = await _thread(store)
    run, _ = await store.runs.create_started(thread["who"], thread["id"], thread["assistant"])
    msg, _ = _reply(thread, run["id"])

    def body(conn: Connection) -> None:
        direct.execute(conn, MESSAGE_INSERT, msg)  # the transaction's first statement
        raise RuntimeError("after the write")

    with pytest.raises(RuntimeError, match="after the write"):
        await store.db.write(body)
    assert await store.db.read(lambda conn: direct.scalar(conn, _MESSAGE_COUNT, {"b_id": msg["id"]})) == 0


async def test_a_failure_is_sqlalchemys_and_rolls_back(store: Store) -> None:
    thread = await _thread(store)
    run, _ = await store.runs.create_started(thread["who"], thread["id"], thread["assistant"])
    msg, _ = _reply(thread, run["id"])
    await store.db.write(lambda conn: direct.execute(conn, MESSAGE_INSERT, msg))
    again = dict(msg, content=_TEXT_B)

    def twice(conn: Connection) -> None:
        direct.execute(conn, MESSAGE_INSERT, again)  # the same primary key

    with pytest.raises(IntegrityError):  # SQLAlchemy's class, as its own path raises
        await store.db.write(twice)
    with pytest.raises(IntegrityError):
        await store.db.write(lambda conn: direct.execute_many(conn, MESSAGE_INSERT, [again]))
    with pytest.raises(IntegrityError):
        await store.db.write(lambda conn: conn.execute(MESSAGE_INSERT, again))
    stored = await store.db.read(lambda conn: direct.scalar(conn, _CONTENT, {"b_id": msg["id"]}))
    assert stored == CONTENT  # the first one, untouched


async def test_a_connection_that_died_under_it_is_invalidated_and_the_read_retried(
    pg_server: PgServer,
) -> None:
    """PostgreSQL: the backend killed between two statements of a read. The direct statement's failure
    invalidates the connection as SQLAlchemy's would, so the read runs again on a new one."""
    url = await fresh_pg_db(pg_server, migrated=True)
    store = await Store.open(url, pool_size=2, max_overflow=0)
    killer = await asyncpg.connect(pg_server.dsn())
    try:
        thread = await _thread(store)
        attempts: list[int] = []

        def body(conn: Connection) -> Any:
            pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            attempts.append(pid)
            if len(attempts) == 1:
                await_only(killer.execute("SELECT pg_terminate_backend($1)", pid))
            return direct.scalar(conn, _THREAD_TENANT, {"b_id": thread["id"]})

        assert await store.db.read(body) == thread["who"]
        assert len(attempts) == 2 and attempts[0] != attempts[1]
    finally:
        await killer.close()
        await store.close()
