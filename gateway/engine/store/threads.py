"""Threads: create (with first messages), retrieve, modify, delete (cascading to everything in them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from sqlalchemy import Connection, bindparam, delete, select, update

from gateway.engine.store import direct, render
from gateway.engine.store.db import Db
from gateway.engine.store.errors import NotFound
from gateway.engine.store.render import JSON
from gateway.engine.store.rows import MESSAGE_INSERT, THREAD_INSERT, NewMessage, message_row, thread_row
from gateway.engine.store.tables import assistants as a
from gateway.engine.store.tables import threads as t


class ThreadChanges(TypedDict, total=False):
    metadata: dict[str, str]
    tool_resources: JSON | None


_ASSISTANT = select(a.c.id).where(a.c.id == bindparam("id"), a.c.tenant == bindparam("tenant"))
_MINE = (t.c.id == bindparam("id"), t.c.tenant == bindparam("tenant"))
_GET = select(t).where(*_MINE)
_DELETE = delete(t).where(*_MINE)


class Threads:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def create(
        self,
        tenant: str,
        *,
        metadata: dict[str, str] | None = None,
        tool_resources: JSON | None = None,
        messages: Sequence[NewMessage] = (),
        assistant_id: str | None = None,
    ) -> JSON:
        """A thread and its first messages, in one transaction; with `assistant_id` (a run's, on
        create-thread-and-run), NotFound and no thread if that assistant is not the tenant's."""
        now = self._db.clock()
        row = thread_row(tenant, now, metadata, tool_resources)
        rows = [message_row(tenant, row["id"], now, m) for m in messages]

        def body(conn: Connection) -> None:  # SQLite: straight on the driver (direct.py)
            mine = {"id": assistant_id, "tenant": tenant}
            if assistant_id is not None and direct.first(conn, _ASSISTANT, mine) is None:
                raise NotFound("assistant", assistant_id)
            direct.execute(conn, THREAD_INSERT, row)
            if rows:
                direct.execute_many(conn, MESSAGE_INSERT, rows)

        await self._db.write(body)
        return render.thread(row)

    async def retrieve(self, tenant: str, thread_id: str) -> JSON:
        found = await self._db.first(_GET, {"id": thread_id, "tenant": tenant})
        if found is None:
            raise NotFound("thread", thread_id)
        return render.thread(found)

    async def modify(self, tenant: str, thread_id: str, changes: ThreadChanges) -> JSON:
        if not changes:
            return await self.retrieve(tenant, thread_id)
        stmt = (
            update(t).where(t.c.id == thread_id, t.c.tenant == tenant).values(dict(changes)).returning(*t.c)
        )
        found = await self._db.write(lambda conn: conn.execute(stmt).mappings().first())
        if found is None:
            raise NotFound("thread", thread_id)
        return render.thread(found)

    async def delete(self, tenant: str, thread_id: str) -> JSON:
        """Deletes its messages, runs, steps and tool results too (foreign keys ON DELETE CASCADE)."""

        def body(conn: Connection) -> int:
            return conn.execute(_DELETE, {"id": thread_id, "tenant": tenant}).rowcount

        if await self._db.write(body) == 0:
            raise NotFound("thread", thread_id)
        return render.deleted("thread", thread_id)
