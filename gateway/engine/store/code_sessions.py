"""Where each thread's code session lives (`code_sessions`): read when a run calls code_interpreter, written
after each call, so that a replica can tell the model its session's state was lost (it lives elsewhere,
or expired) rather than silently starting a new one."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, select, update

from gateway.engine.store.db import Db
from gateway.engine.store.tables import code_sessions as c


class SessionPlace(NamedTuple):
    location: str
    used_at: int


class CodeSessionPlaces:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def get(self, tenant: str, thread_id: str) -> SessionPlace | None:
        def body(conn: Connection) -> SessionPlace | None:
            row = conn.execute(
                select(c.c.location, c.c.used_at).where(c.c.thread_id == thread_id, c.c.tenant == tenant)
            ).first()
            return None if row is None else SessionPlace(row.location, row.used_at)

        return await self._db.read(body)

    async def touch(self, tenant: str, thread_id: str, location: str) -> None:
        """The thread's session lives at `location`, used now (one row per thread: updated, else made)."""
        now = self._db.clock()

        def body(conn: Connection) -> None:
            changed = conn.execute(
                update(c)
                .where(c.c.thread_id == thread_id, c.c.tenant == tenant)
                .values(location=location, used_at=now)
            ).rowcount
            if not changed:
                conn.execute(
                    c.insert().values(thread_id=thread_id, tenant=tenant, location=location, used_at=now)
                )

        await self._db.write(body)
