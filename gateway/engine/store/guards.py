"""The per-thread lock taken before a run becomes active or a message is added or removed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, bindparam, literal, select

from gateway.engine.store import direct
from gateway.engine.store.errors import NotFound, ThreadBusy
from gateway.engine.store.tables import ACTIVE_RUN_STATUSES, runs, threads

THREAD_ROW = (threads.c.id == bindparam("thread_id"), threads.c.tenant == bindparam("tenant"))
_LOCK = select(threads.c.seq).where(*THREAD_ROW).with_for_update()
_ACTIVE = (
    select(runs.c.id)
    .where(  # one bind per status: an expanding IN would be re-rendered at every execution
        runs.c.thread_id == bindparam("thread_id"),
        runs.c.status.in_([literal(s) for s in ACTIVE_RUN_STATUSES]),
    )
    .limit(1)
)


def lock_idle(conn: Connection, tenant: str, thread_id: str, lock: Any = _LOCK, **params: Any) -> Any:
    """Lock the thread row until commit and check it has no active run (NotFound / ThreadBusy).

    Everything that makes a run active or adds or removes a message takes this lock first, so on
    PostgreSQL they serialize per thread (`FOR UPDATE`); on SQLite the write transaction already runs
    alone (`BEGIN IMMEDIATE`). The active-run check is a separate statement so that, under READ COMMITTED,
    it sees what the previous lock holder committed. The partial unique index on runs is the backstop.

    `lock` may be a variant of the lock query that also reads more columns (bound from `params`); its row
    is returned (a mapping).
    """
    row = direct.first(conn, lock, {"thread_id": thread_id, "tenant": tenant, **params})
    if row is None:
        raise NotFound("thread", thread_id)
    active = active_run(conn, thread_id)
    if active is not None:
        raise ThreadBusy(thread_id, active)
    return row


def active_run(conn: Connection, thread_id: str) -> str | None:
    found: str | None = direct.scalar(conn, _ACTIVE, {"thread_id": thread_id})
    return found


def tenant_filter(table: Table, with_tenant: bool) -> tuple[ColumnElement[bool], ...]:
    """The tenant condition (bound as `b_tenant`) for statements the engine also runs with `tenant=None`."""
    return (table.c.tenant == bindparam("b_tenant"),) if with_tenant else ()
