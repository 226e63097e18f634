"""Run steps: the engine creates and closes them; clients list and retrieve them."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from gateway.engine.store import render
from gateway.engine.store.db import Db
from gateway.engine.store.errors import NotFound
from gateway.engine.store.guards import tenant_filter
from gateway.engine.store.paging import check, exists, page
from gateway.engine.store.render import JSON
from gateway.engine.store.rows import STEP_INSERT, Replay, step_row
from gateway.engine.store.tables import messages, runs, threads
from gateway.engine.store.tables import run_steps as t
from gateway.schemas.status import STEP_STAMP, MessageStatus, StepEnd, StepStatus, plain

_GET = select(t).where(
    t.c.id == bindparam("b_id"),
    t.c.run_id == bindparam("b_run"),
    t.c.thread_id == bindparam("b_thread"),
    t.c.tenant == bindparam("b_tenant"),
)
_REPLAY = select(t.c.replay).where(t.c.id == bindparam("b_id"), t.c.tenant == bindparam("b_tenant"))
_RUN = select(runs.c.seq).where(
    runs.c.id == bindparam("b_run"),
    runs.c.thread_id == bindparam("b_thread"),
    runs.c.tenant == bindparam("b_tenant"),
)


@functools.cache
def _close_steps(stamp: str) -> Any:
    return (
        update(t)
        .where(t.c.run_id == bindparam("b_run"), t.c.status == StepStatus.IN_PROGRESS.value)
        .values(
            {"status": bindparam("b_status"), "last_error": bindparam("b_error"), stamp: bindparam("b_now")}
        )
    )


_CLOSE_MESSAGES = (
    update(messages)
    .where(messages.c.run_id == bindparam("b_run"), messages.c.status == MessageStatus.IN_PROGRESS.value)
    .values(
        status=MessageStatus.INCOMPLETE.value,
        incomplete_at=bindparam("b_now"),
        incomplete_details=bindparam("b_details"),
    )
)


@functools.cache
def set_stmt(with_tenant: bool, names: frozenset[str], returning: bool = True) -> Any:
    """Set `names` (bound as `b_<name>`) on an `in_progress` step."""
    stmt = (
        update(t)
        .where(
            t.c.id == bindparam("b_id"),
            t.c.status == StepStatus.IN_PROGRESS.value,
            *tenant_filter(t, with_tenant),
        )
        .values({n: bindparam("b_" + n) for n in names})
    )
    return stmt.returning(*t.c) if returning else stmt


def detail_values(step_details: JSON, replay: Replay | None) -> dict[str, Any]:
    """The columns `Steps.update` sets."""
    values: dict[str, Any] = {"step_details": step_details}
    if replay is not None:
        values["replay"] = replay
    return values


def end_values(
    status: StepEnd, now: int, step_details: JSON | None, usage: JSON | None, last_error: JSON | None
) -> dict[str, Any]:
    """The columns `Steps.complete` sets."""
    ended = plain(StepStatus, status)
    values: dict[str, Any] = {
        "status": ended,
        "usage": usage,
        "last_error": last_error,
        STEP_STAMP[ended]: now,
    }
    if step_details is not None:
        values["step_details"] = step_details
    return values


def close_open(
    conn: Connection,
    run_id: str,
    now: int,
    step_status: StepEnd,
    reason: str,
    last_error: JSON | None = None,
) -> None:
    """End a run's open steps (`step_status`) and in-progress messages (`incomplete`, `reason`)."""
    if step_status == StepStatus.FAILED and last_error:
        code = last_error.get("code")
        # A step's error code is server_error or rate_limit_exceeded; a run's may also be invalid_prompt.
        last_error = {**last_error, "code": code if code == "rate_limit_exceeded" else "server_error"}
    else:
        last_error = None
    conn.execute(
        _close_steps(STEP_STAMP[step_status]),
        {"b_run": run_id, "b_status": plain(StepStatus, step_status), "b_error": last_error, "b_now": now},
    )
    conn.execute(_CLOSE_MESSAGES, {"b_run": run_id, "b_now": now, "b_details": {"reason": reason}})


class Steps:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def create(
        self,
        tenant: str,
        *,
        thread_id: str,
        run_id: str,
        assistant_id: str,
        step_details: JSON,
        replay: Replay | None = None,
    ) -> JSON:
        """An `in_progress` step (tool_calls; message_creation steps come with `Messages.start`).

        Its place in the thread's history is after every message that exists now (so a turn's message,
        if any, is created first). The turn's `replay` (its tool calls) may be kept here or on that message.
        """
        ids = {"thread_id": thread_id, "run_id": run_id, "assistant_id": assistant_id}
        row = step_row(self._db.clock(), tenant, **ids, step_details=step_details, replay=replay)
        await self._db.write(lambda conn: conn.execute(STEP_INSERT, row))
        return render.step(row)

    async def update(
        self, tenant: str | None, step_id: str, *, step_details: JSON, replay: Replay | None = None
    ) -> JSON | None:
        """Replace an `in_progress` step's details (and replay, if given); None if it is closed."""
        return await self._set(tenant, step_id, detail_values(step_details, replay))

    async def complete(
        self,
        tenant: str | None,
        step_id: str,
        *,
        status: StepEnd = StepStatus.COMPLETED,
        step_details: JSON | None = None,
        usage: JSON | None = None,
        last_error: JSON | None = None,
    ) -> JSON | None:
        """Close an `in_progress` step with its stamp; details kept unless given. None if it was closed."""
        values = end_values(status, self._db.clock(), step_details, usage, last_error)
        return await self._set(tenant, step_id, values)

    async def _set(self, tenant: str | None, step_id: str, values: dict[str, Any]) -> JSON | None:
        stmt = set_stmt(tenant is not None, frozenset(values))
        key = {"b_id": step_id, "b_tenant": tenant, **{"b_" + k: v for k, v in values.items()}}
        found = await self._db.write(lambda conn: conn.execute(stmt, key).mappings().first())
        return None if found is None else render.step(found)

    async def retrieve(self, tenant: str, thread_id: str, run_id: str, step_id: str) -> JSON:
        key = {"b_id": step_id, "b_run": run_id, "b_thread": thread_id, "b_tenant": tenant}
        found = await self._db.first(_GET, key)
        if found is None:
            raise NotFound("run step", step_id)
        return render.step(found)

    async def replay(self, tenant: str, step_id: str) -> Replay:
        """A step's private replay (empty if it has none, or there is no such step)."""
        key = {"b_id": step_id, "b_tenant": tenant}
        found: Replay | None = await self._db.read(lambda conn: conn.scalar(_REPLAY, key))
        return found or {}

    async def list(
        self,
        tenant: str,
        thread_id: str,
        run_id: str,
        *,
        limit: int = 20,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> JSON:
        check(limit, order)

        def body(conn: Connection) -> JSON:
            if conn.scalar(_RUN, {"b_run": run_id, "b_thread": thread_id, "b_tenant": tenant}) is None:
                exists(conn, threads, "thread", tenant, thread_id)
                raise NotFound("run", run_id)
            return page(
                conn,
                t,
                [t.c.run_id == run_id, t.c.tenant == tenant],
                render.step,
                limit=limit,
                order=order,
                after=after,
                before=before,
            )

        return await self._db.read(body)
