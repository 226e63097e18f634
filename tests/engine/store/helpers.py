"""Small builders shared by the store tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from gateway.engine.store import Store

JSON = dict[str, Any]

# OpenAI v2's fields, as the gateway's bridge (`assistant_to_openai`, `run_to_openai`, ...) returns them.
FIELDS = {
    "assistant": {
        "id",
        "object",
        "created_at",
        "name",
        "description",
        "model",
        "instructions",
        "tools",
        "tool_resources",
        "metadata",
        "temperature",
        "top_p",
        "response_format",
    },
    "thread": {"id", "object", "created_at", "metadata", "tool_resources"},
    "message": {
        "id",
        "object",
        "created_at",
        "thread_id",
        "role",
        "content",
        "assistant_id",
        "run_id",
        "attachments",
        "status",
        "completed_at",
        "incomplete_at",
        "incomplete_details",
        "metadata",
    },
    "run": {
        "id",
        "object",
        "created_at",
        "assistant_id",
        "thread_id",
        "status",
        "started_at",
        "expires_at",
        "cancelled_at",
        "failed_at",
        "completed_at",
        "required_action",
        "last_error",
        "model",
        "instructions",
        "tools",
        "metadata",
        "incomplete_details",
        "usage",
        "temperature",
        "top_p",
        "max_prompt_tokens",
        "max_completion_tokens",
        "truncation_strategy",
        "response_format",
        "tool_choice",
        "parallel_tool_calls",
    },
    "step": {
        "id",
        "object",
        "created_at",
        "run_id",
        "assistant_id",
        "thread_id",
        "type",
        "status",
        "cancelled_at",
        "completed_at",
        "expired_at",
        "failed_at",
        "last_error",
        "step_details",
        "usage",
        "metadata",
    },
}


def tenant() -> str:
    return "tenant-" + secrets.token_hex(4)


async def thread_with_assistant(store: Store, who: str, **assistant: Any) -> tuple[JSON, JSON]:
    a = await store.assistants.create(who, model=assistant.pop("model", "MiniMax-M1"), **assistant)
    t = await store.threads.create(who, messages=[{"role": "user", "content": "hello"}])
    return a, t


def tool_step_details(*call_ids: str) -> JSON:
    return {
        "type": "tool_calls",
        "tool_calls": [
            {
                "id": c,
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"q": 1}', "output": None},
            }
            for c in call_ids
        ],
    }


def required_action(*call_ids: str) -> JSON:
    return {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {
            "tool_calls": [
                {"id": c, "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
                for c in call_ids
            ]
        },
    }


async def run_to_requires_action(store: Store, who: str, *call_ids: str) -> tuple[JSON, JSON, JSON]:
    """A run waiting for outputs of `call_ids`: (thread, run, tool step)."""
    a, t = await thread_with_assistant(store, who)
    run = await store.runs.create(who, t["id"], a["id"])
    await store.runs.transition(who, run["id"], ["queued"], "in_progress")
    step = await store.steps.create(
        who,
        thread_id=t["id"],
        run_id=run["id"],
        assistant_id=a["id"],
        step_details=tool_step_details(*call_ids),
    )
    waiting = await store.runs.transition(
        who,
        run["id"],
        ["in_progress"],
        "requires_action",
        required_action=required_action(*call_ids),
        expires_at=store_now(store) + 600,
    )
    assert waiting is not None
    return t, waiting, step


def store_now(store: Store) -> int:
    return int(store.db.clock())


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """The statements run inside the block (BEGIN, COMMIT, ROLLBACK left out), by their first three
    words. The hot ones bypass SQLAlchemy's events (`store/direct.py`): on SQLite the driver's trace
    callback sees them, on PostgreSQL asyncpg's query logger (which SQLAlchemy's own statements, run as
    prepared statements, do not reach: each is seen once)."""
    engine = store.db.engine
    sync = engine if isinstance(engine, Engine) else engine.sync_engine
    seen: list[str] = []

    def traced(sql: str) -> None:
        if sql.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(" ".join(sql.split()[:3]))

    def on_statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        traced(sql)

    listeners: list[tuple[Any, str, Any]] = [(sync, "before_cursor_execute", on_statement)]
    if sync.dialect.name == "sqlite":
        listeners = [
            (sync.pool, "checkout", lambda dbapi, *_: dbapi.set_trace_callback(traced)),
            (sync.pool, "checkin", lambda dbapi, *_: dbapi.set_trace_callback(None)),
        ]
    else:

        def logged(record: Any) -> None:
            traced(record.query)

        listeners += [
            (sync.pool, "checkout", lambda dbapi, *_: dbapi.driver_connection.add_query_logger(logged)),
            (sync.pool, "checkin", lambda dbapi, *_: dbapi.driver_connection.remove_query_logger(logged)),
        ]
    for target, name, fn in listeners:
        event.listen(target, name, fn)
    kept = getattr(store.db, "kept", None)  # SQLite's writer keeps its connection: not checked out again
    if kept is not None:
        kept.connection.dbapi_connection.set_trace_callback(traced)
    try:
        yield seen
    finally:
        for target, name, fn in listeners:
            event.remove(target, name, fn)
        kept = getattr(store.db, "kept", None)  # the one above, or one checked out (and traced) since
        if kept is not None:
            kept.connection.dbapi_connection.set_trace_callback(None)


class RoundTrips:
    """Counts the round trips a PostgreSQL store makes, at the wire: the Sync, Query and Flush messages
    its connections send (the client waits for the answer to each: one round trip, be it a statement of
    the extended protocol, BEGIN, COMMIT, a ping, or the Flush after a statement's Parse + Describe).
    It wraps each connection's socket writes when the connection is checked out; it counts only inside
    `with counter:`."""

    def __init__(self, store: Store) -> None:
        self.trips = 0
        self.sent: list[str] = []  # the message types, in order ("P" parse, "B" bind, "S", "Q", ...)
        self._on = False
        self._wrapped: set[int] = set()
        engine = store.db.engine
        self._pool = (engine if isinstance(engine, Engine) else engine.sync_engine).pool
        event.listen(self._pool, "checkout", self._checkout)

    def close(self) -> None:
        event.remove(self._pool, "checkout", self._checkout)

    def __enter__(self) -> RoundTrips:
        self.trips, self.sent, self._on = 0, [], True
        return self

    def __exit__(self, *_: object) -> None:
        self._on = False

    def _checkout(self, dbapi: Any, _record: Any, _proxy: Any) -> None:
        transport = dbapi.driver_connection._transport
        if id(transport) in self._wrapped:
            return
        self._wrapped.add(id(transport))
        write = transport.write

        def counted(data: Any) -> None:
            if self._on:
                self._count(bytes(data))
            write(data)

        transport.write = counted

    def _count(self, data: bytes) -> None:
        at = 0
        while at + 5 <= len(data):  # each message: a type byte, then its length (itself included)
            kind, size = chr(data[at]), int.from_bytes(data[at + 1 : at + 5], "big")
            self.sent.append(kind)
            self.trips += kind in ("S", "Q", "H")
            at += 1 + size
