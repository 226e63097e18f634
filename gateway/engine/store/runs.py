"""Runs: create (one active per thread), retrieve, list, modify, and compare-and-set status transitions."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, text, update
from sqlalchemy.exc import IntegrityError

from gateway.engine.store import batch, direct, history, render
from gateway.engine.store.db import Db, from_db, json_text, one_statement
from gateway.engine.store.errors import NotFound, ThreadBusy
from gateway.engine.store.guards import THREAD_ROW, active_run, lock_idle
from gateway.engine.store.history import HistoryItem
from gateway.engine.store.ids import new_id
from gateway.engine.store.paging import check, thread_page
from gateway.engine.store.render import JSON
from gateway.engine.store.rows import MESSAGE_INSERT, THREAD_INSERT, NewMessage, message_row, thread_row
from gateway.engine.store.tables import assistants, threads
from gateway.engine.store.tables import runs as t
from gateway.engine.store.tool_outputs import ToolOutput, submit
from gateway.engine.store.transitions import Move, ToStatus
from gateway.schemas.status import RunStatus

_INSERT = t.insert()
# The thread lock that also reads the assistant's run defaults: one statement fewer per run.
_LOCK_WITH_ASSISTANT = (
    select(
        assistants.c.id.label("assistant"),
        assistants.c.model,
        assistants.c.instructions,
        assistants.c.tools,
        assistants.c.temperature,
        assistants.c.top_p,
        assistants.c.response_format,
    )
    .select_from(
        threads.outerjoin(
            assistants,
            and_(assistants.c.id == bindparam("b_assistant"), assistants.c.tenant == bindparam("tenant")),
        )
    )
    .where(*THREAD_ROW)
    .with_for_update(of=threads)
)
_MINE = (
    t.c.id == bindparam("b_id"),
    t.c.thread_id == bindparam("b_thread"),
    t.c.tenant == bindparam("b_tenant"),
)
_GET = select(t).where(*_MINE)
_GET_ANY = select(t).where(t.c.id == bindparam("b_id"))
_SET_METADATA = update(t).where(*_MINE).values(metadata=bindparam("b_metadata")).returning(*t.c)


# The assistant's run defaults alone: a thread made in the same transaction needs no lock.
_ASSISTANT_DEFAULTS = select(*_LOCK_WITH_ASSISTANT.selected_columns).where(
    assistants.c.id == bindparam("b_assistant"), assistants.c.tenant == bindparam("tenant")
)


_START_RUN = text("SELECT gateway_start_run(CAST(:run AS json), CAST(:messages AS json), :start)")
_START_THREAD_RUN = text(
    "SELECT gateway_start_thread_run(CAST(:thread AS json), CAST(:run AS json), CAST(:messages AS json),"
    " :start)"
)
_FLOATS = ("temperature", "top_p")
NewThread = tuple[JSON, builtins.list[JSON]]
"""A thread made with its run (create-thread-and-run): its row and its messages' rows."""


def _start_run(
    tenant: str,
    thread_id: str,
    assistant_id: str,
    row: dict[str, Any],
    given: dict[str, Any],
    extra: builtins.list[JSON],
    start: bool,
    new_thread: NewThread | None,
) -> Any:
    """`_create`'s body on PostgreSQL: one call of `gateway_start_run` (migration 0004), or with a new
    thread of `gateway_start_thread_run` (0005): one round trip. Fills `row` in as the other body does."""
    args: dict[str, Any] = {"run": json_text({**row, **given}), "start": start}
    statement = _START_RUN
    if new_thread is not None:
        thread, first = new_thread
        args["thread"] = json_text(thread)
        extra = first + extra
        statement = _START_THREAD_RUN
    args["messages"] = json_text(extra)

    def body(conn: Connection) -> builtins.list[HistoryItem]:
        found = from_db(direct.scalar(conn, statement, args))
        error = found.get("error")
        if error == "thread":
            raise NotFound("thread", thread_id)
        if error == "busy":
            raise ThreadBusy(thread_id, found["active"])
        if error == "assistant":
            raise NotFound("assistant", assistant_id)
        defaults = found["assistant"]
        for k in _FLOATS:  # JSON writes a float8 1.0 as 1: the column reads back a float
            if defaults[k] is not None:
                defaults[k] = float(defaults[k])
        row.update({k: defaults[k] if v is None else v for k, v in given.items()})
        row["instructions"] = row["instructions"] or ""
        return [] if found["history"] is None else history.from_json(found["history"])

    return one_statement(body)


class Runs:
    def __init__(self, db: Db, lease_ttl: float) -> None:
        self._db = db
        self._lease_ttl = lease_ttl

    async def create(self, tenant: str, thread_id: str, assistant_id: str, **fields: Any) -> JSON:
        """A `queued` run, after `additional_messages`, in one transaction; ThreadBusy if one is active.

        `fields` (see `_create`) left None come from the assistant (model / instructions / tools /
        temperature / top_p / response_format). The run starts with a lease (`lease_owner` or nobody,
        until now + lease_ttl): if no executor claims it in time, the orphan sweep fails it.
        """
        run, _ = await self._create(tenant, thread_id, assistant_id, start=False, **fields)
        return run

    async def create_started(
        self, tenant: str, thread_id: str, assistant_id: str, **fields: Any
    ) -> tuple[JSON, builtins.list[HistoryItem]]:
        """`create` and `begin` in one transaction, for a run its executor starts at once (one
        transaction fewer per run): stored `in_progress`, leased to `lease_owner`. Returns the run
        as created (`queued`: what its `thread.run.created` event shows) and its thread's history."""
        return await self._create(tenant, thread_id, assistant_id, start=True, **fields)

    async def create_started_in_new_thread(
        self,
        tenant: str,
        assistant_id: str,
        *,
        thread_metadata: dict[str, str] | None = None,
        thread_messages: Sequence[NewMessage] = (),
        **fields: Any,
    ) -> tuple[JSON, JSON, builtins.list[HistoryItem]]:
        """`create_started` on a thread made in the same transaction (create-thread-and-run without
        tool resources): the thread, its messages, the run and the history in one write, where
        `Threads.create` and `create_started` take two. NotFound, and nothing made, if the assistant is
        not the tenant's. Returns (thread, run as created, history)."""
        now = self._db.clock()
        thread = thread_row(tenant, now, thread_metadata, None)
        first = [message_row(tenant, thread["id"], now, m) for m in thread_messages]
        run, turns = await self._create(
            tenant, thread["id"], assistant_id, start=True, new_thread=(thread, first), **fields
        )
        return render.thread(thread), run, turns

    async def _create(
        self,
        tenant: str,
        thread_id: str,
        assistant_id: str,
        *,
        model: str | None = None,
        instructions: str | None = None,
        tools: list[JSON] | None = None,
        metadata: dict[str, str] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_prompt_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        truncation_strategy: JSON | None = None,
        tool_choice: Any = "auto",
        parallel_tool_calls: bool = True,
        response_format: Any = None,
        additional_messages: Sequence[NewMessage] = (),
        expires_in: int = 600,
        lease_owner: str | None = None,
        start: bool,
        new_thread: NewThread | None = None,
    ) -> tuple[JSON, builtins.list[HistoryItem]]:
        now = self._db.clock()
        row: dict[str, Any] = {
            "id": new_id("run", now),
            "tenant": tenant,
            "thread_id": thread_id,
            "assistant_id": assistant_id,
            "created_at": now,
            "status": RunStatus.QUEUED.value,
            "started_at": None,
            "expires_at": now + expires_in,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "required_action": None,
            "last_error": None,
            "incomplete_details": None,
            "usage": None,
            "metadata": metadata or {},
            "max_prompt_tokens": max_prompt_tokens,
            "max_completion_tokens": max_completion_tokens,
            "truncation_strategy": truncation_strategy or {"type": "auto", "last_messages": None},
            "tool_choice": tool_choice,
            "parallel_tool_calls": parallel_tool_calls,
            "lease_owner": lease_owner,
            "lease_until": now + self._lease_ttl,
        }
        given = {
            "model": model,
            "instructions": instructions,
            "tools": tools,
            "temperature": temperature,
            "top_p": top_p,
            "response_format": response_format,
        }
        extra = [message_row(tenant, thread_id, now, m) for m in additional_messages]

        def body(conn: Connection) -> builtins.list[HistoryItem]:
            if new_thread is None:
                found = lock_idle(conn, tenant, thread_id, _LOCK_WITH_ASSISTANT, b_assistant=assistant_id)
            else:  # made here: no other transaction can see it, nothing to lock or check
                key = {"b_assistant": assistant_id, "tenant": tenant}
                found = direct.first(conn, _ASSISTANT_DEFAULTS, key)
            if found is None or found["assistant"] is None:
                raise NotFound("assistant", assistant_id)
            if new_thread is not None:
                direct.execute(conn, THREAD_INSERT, new_thread[0])
                if new_thread[1]:
                    direct.execute_many(conn, MESSAGE_INSERT, new_thread[1])
            row.update({k: found[k] if v is None else v for k, v in given.items()})
            row["instructions"] = row["instructions"] or ""
            if extra:
                direct.execute_many(conn, MESSAGE_INSERT, extra)
            if not start:
                direct.execute(conn, _INSERT, row)
                return []
            direct.execute(conn, _INSERT, {**row, "status": RunStatus.IN_PROGRESS.value, "started_at": now})
            return history.read(conn, tenant, thread_id, known=True)

        if self._db.functions:
            body = _start_run(tenant, thread_id, assistant_id, row, given, extra, start, new_thread)
        try:
            turns = await self._db.write(body)
        except IntegrityError:
            # The partial unique index caught what the lock did not (should not happen: it is the backstop).
            active = await self._db.read(lambda conn: active_run(conn, thread_id))
            if active is None:
                raise
            raise ThreadBusy(thread_id, active) from None
        return render.run(row), turns

    async def retrieve(self, tenant: str, thread_id: str, run_id: str) -> JSON:
        key = {"b_id": run_id, "b_thread": thread_id, "b_tenant": tenant}
        found = await self._db.first(_GET, key)
        if found is None:
            raise NotFound("run", run_id)
        return render.run(found)

    async def get(self, run_id: str) -> tuple[str, JSON] | None:
        """The engine's lookup by id alone: (tenant, run), or None."""
        found = await self._db.first(_GET_ANY, {"b_id": run_id})
        return None if found is None else (found["tenant"], render.run(found))

    async def list(
        self,
        tenant: str,
        thread_id: str,
        *,
        limit: int = 20,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> JSON:
        check(limit, order)

        cursor: dict[str, Any] = {"limit": limit, "order": order, "after": after, "before": before}
        return await self._db.read(lambda conn: thread_page(conn, t, render.run, tenant, thread_id, **cursor))

    async def modify(self, tenant: str, thread_id: str, run_id: str, *, metadata: dict[str, str]) -> JSON:
        key = {"b_id": run_id, "b_thread": thread_id, "b_tenant": tenant, "b_metadata": metadata}
        found = await self._db.write(lambda conn: conn.execute(_SET_METADATA, key).mappings().first())
        if found is None:
            raise NotFound("run", run_id)
        return render.run(found)

    async def transition(
        self,
        tenant: str | None,
        run_id: str,
        from_statuses: Collection[str],
        to_status: ToStatus,
        *,
        close_children: bool = False,
        **fields: Any,
    ) -> JSON | None:
        """Compare-and-set the status: the updated run, or None if it was not in `from_statuses`.

        Stamps follow OpenAI unless given in `fields`: `in_progress` sets `started_at` once; `cancelled` /
        `failed` / `completed` stamp their `*_at`; a terminal status (except `expired`) clears `expires_at`;
        any status but `requires_action` clears `required_action`; `requires_action` and terminal statuses
        drop the lease. `close_children` (cancelled / failed / expired) also ends the run's open steps and
        marks its in-progress messages incomplete (`run_cancelled` / `run_failed` / `run_expired`).
        """
        move = Move.of(
            tenant, run_id, from_statuses, to_status, self._db.clock(), fields, close_children=close_children
        )

        def body(conn: Connection) -> Any:
            found = move.update(conn)
            if found is not None:
                move.close_children(conn, found)
            return found

        found = await self._db.write(body)
        return None if found is None else render.run(found)

    async def begin(self, run_id: str) -> builtins.list[HistoryItem] | None:
        """Start a run: `queued` -> `in_progress` and its thread's history, in one transaction; None (nothing
        changed) if the run had left `queued` (a cancel, a sweep)."""
        return await batch.begin(self._db, run_id)

    async def submit_tool_outputs(
        self,
        tenant: str,
        thread_id: str,
        run_id: str,
        outputs: Sequence[ToolOutput],
        lease_owner: str | None = None,
    ) -> tuple[JSON, JSON]:
        """Record the outputs and re-queue the run, in one transaction: (run, completed tool-calls step).

        The run must be `requires_action` (RunStateConflict), the ids exactly its required calls, each once
        (ToolOutputsMismatch). Each output lands in the step's `function.output` and in a tool-result
        record for `history`. The run is re-leased like a new one (see `create`).
        """
        return await submit(self._db, tenant, thread_id, run_id, outputs, lease_owner, self._lease_ttl)
