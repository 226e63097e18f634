"""Messages: the client's CRUD (refused while a run is active) and the engine's run replies.

A reply is created empty and `in_progress` with its `message_creation` step (`start`), its text is
checkpointed now and then (`checkpoint`), and `complete` closes it, keeping the engine-private `replay`
(reasoning, `reasoning_details`, tool calls of the same model turn) that clients never see.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, Update, bindparam, delete, select, update

from gateway.engine.store import render
from gateway.engine.store.db import Db
from gateway.engine.store.errors import NotFound, RunStateConflict
from gateway.engine.store.guards import lock_idle, tenant_filter
from gateway.engine.store.paging import check, thread_page
from gateway.engine.store.render import JSON
from gateway.engine.store.rows import (
    MESSAGE_INSERT,
    STEP_INSERT,
    Content,
    NewMessage,
    Replay,
    message_row,
    reply_rows,
)
from gateway.engine.store.tables import messages as t
from gateway.engine.store.tables import run_steps
from gateway.schemas.status import MESSAGE_STAMP, MessageEnd

_INSERT = MESSAGE_INSERT
_MINE = (
    t.c.id == bindparam("b_id"),
    t.c.thread_id == bindparam("b_thread"),
    t.c.tenant == bindparam("b_tenant"),
)
_GET = select(t).where(*_MINE)
_DELETE = delete(t).where(*_MINE)
_SET_METADATA = update(t).where(*_MINE).values(metadata=bindparam("b_metadata")).returning(*t.c)


@functools.cache
def checkpoint_stmt(with_tenant: bool) -> Update:
    return (
        update(t)
        .where(t.c.id == bindparam("b_id"), t.c.status == "in_progress", *tenant_filter(t, with_tenant))
        .values(content=bindparam("b_content"))
    )


@functools.cache
def complete_stmt(with_tenant: bool, stamp: str, returning: bool = True) -> Any:
    stmt = (
        update(t)
        .where(t.c.id == bindparam("b_id"), t.c.status == "in_progress", *tenant_filter(t, with_tenant))
        .values(
            {
                "status": bindparam("b_status"),
                "content": bindparam("b_content"),
                "incomplete_details": bindparam("b_details"),
                "replay": bindparam("b_replay"),
                stamp: bindparam("b_now"),
            }
        )
    )
    return stmt.returning(*t.c) if returning else stmt


def complete_key(
    tenant: str | None,
    message_id: str,
    now: int,
    content: Content,
    status: str,
    incomplete_details: JSON | None,
    replay: Replay | None,
) -> dict[str, Any]:
    """`complete_stmt`'s parameters."""
    return {
        "b_id": message_id,
        "b_tenant": tenant,
        "b_status": status,
        "b_content": content,
        "b_details": incomplete_details,
        "b_replay": replay,
        "b_now": now,
    }


_FINISH_STEP = (
    update(run_steps)
    .where(
        run_steps.c.id == bindparam("b_step"),
        run_steps.c.status == "in_progress",
        run_steps.c.type == "message_creation",
    )
    .values(
        status=bindparam("b_step_status"),
        completed_at=bindparam("b_completed_at"),
        failed_at=bindparam("b_failed_at"),
        usage=bindparam("b_usage"),
        last_error=bindparam("b_error"),
    )
    .returning(*run_steps.c)
)


class Messages:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def add(self, tenant: str, thread_id: str, message: NewMessage) -> JSON:
        """ThreadBusy while the thread has an active run (checked and inserted in one transaction)."""
        row = message_row(tenant, thread_id, self._db.clock(), message)

        def body(conn: Connection) -> None:
            lock_idle(conn, tenant, thread_id)
            conn.execute(_INSERT, row)

        await self._db.write(body)
        return render.message(row)

    async def retrieve(self, tenant: str, thread_id: str, message_id: str) -> JSON:
        key = {"b_id": message_id, "b_thread": thread_id, "b_tenant": tenant}
        found = await self._db.first(_GET, key)
        if found is None:
            raise NotFound("message", message_id)
        return render.message(found)

    async def list(
        self,
        tenant: str,
        thread_id: str,
        *,
        limit: int = 20,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
        run_id: str | None = None,
    ) -> JSON:
        """Newest first by default, as OpenAI; `run_id` keeps only that run's messages (in SQL)."""
        check(limit, order)
        filters = () if run_id is None else (t.c.run_id == run_id,)

        cursor: dict[str, Any] = {"limit": limit, "order": order, "after": after, "before": before}
        return await self._db.read(
            lambda conn: thread_page(conn, t, render.message, tenant, thread_id, filters=filters, **cursor)
        )

    async def modify(self, tenant: str, thread_id: str, message_id: str, *, metadata: dict[str, str]) -> JSON:
        key = {"b_id": message_id, "b_thread": thread_id, "b_tenant": tenant, "b_metadata": metadata}
        found = await self._db.write(lambda conn: conn.execute(_SET_METADATA, key).mappings().first())
        if found is None:
            raise NotFound("message", message_id)
        return render.message(found)

    async def delete(self, tenant: str, thread_id: str, message_id: str) -> JSON:
        """ThreadBusy while the thread has an active run."""

        def body(conn: Connection) -> None:
            lock_idle(conn, tenant, thread_id)
            if (
                conn.execute(
                    _DELETE, {"b_id": message_id, "b_thread": thread_id, "b_tenant": tenant}
                ).rowcount
                == 0
            ):
                raise NotFound("message", message_id)

        await self._db.write(body)
        return render.deleted("thread.message", message_id)

    # -- the engine's side ------------------------------------------------------------------------

    async def start(
        self, tenant: str, *, thread_id: str, run_id: str, assistant_id: str
    ) -> tuple[JSON, JSON]:
        """An empty `in_progress` assistant message and its `message_creation` step: (message, step)."""
        msg, step = reply_rows(
            self._db.clock(), tenant, thread_id=thread_id, run_id=run_id, assistant_id=assistant_id
        )

        def body(conn: Connection) -> None:
            conn.execute(_INSERT, msg)
            conn.execute(STEP_INSERT, step)

        await self._db.write(body)
        return render.message(msg), render.step(step)

    async def checkpoint(self, tenant: str | None, message_id: str, content: Content) -> bool:
        """Save the text so far; False if the message is no longer `in_progress`. Not per chunk."""
        stmt = checkpoint_stmt(tenant is not None)
        key = {"b_id": message_id, "b_tenant": tenant, "b_content": content}
        return bool(await self._db.write(lambda conn: conn.execute(stmt, key).rowcount) == 1)

    async def complete(
        self,
        tenant: str | None,
        message_id: str,
        *,
        content: Content,
        status: MessageEnd = "completed",
        incomplete_details: JSON | None = None,
        replay: Replay | None = None,
    ) -> JSON | None:
        """Close an `in_progress` message (stamp completed_at or incomplete_at); None if it was not open."""
        stmt = complete_stmt(tenant is not None, MESSAGE_STAMP[status])
        key = complete_key(tenant, message_id, self._db.clock(), content, status, incomplete_details, replay)
        found = await self._db.write(lambda conn: conn.execute(stmt, key).mappings().first())
        return None if found is None else render.message(found)

    async def finish(
        self,
        tenant: str | None,
        message_id: str,
        step_id: str,
        *,
        content: Content,
        status: MessageEnd = "completed",
        incomplete_details: JSON | None = None,
        replay: Replay | None = None,
        usage: JSON | None = None,
        step_error: JSON | None = None,
    ) -> tuple[JSON, JSON] | None:
        """`complete` the reply and its `message_creation` step in one transaction: (message, step).

        The step completes with `usage`, or fails with `step_error` if given. None (nothing changed) if the
        message was not `in_progress`.
        """
        now = self._db.clock()
        stmt = complete_stmt(tenant is not None, MESSAGE_STAMP[status])
        key = complete_key(tenant, message_id, now, content, status, incomplete_details, replay)
        step_key = {
            "b_step": step_id,
            "b_step_status": "failed" if step_error else "completed",
            "b_completed_at": None if step_error else now,
            "b_failed_at": now if step_error else None,
            "b_usage": usage,
            "b_error": step_error,
        }

        def body(conn: Connection) -> tuple[JSON, JSON] | None:
            msg = conn.execute(stmt, key).mappings().first()
            if msg is None:
                return None
            step = conn.execute(_FINISH_STEP, step_key).mappings().first()
            if step is None or step["run_id"] != msg["run_id"]:
                raise RunStateConflict(
                    str(msg["run_id"]), "unknown", f"Step {step_id} is not open for this run."
                )
            return render.message(msg), render.step(step)

        return await self._db.write(body)
