"""Vector stores: create (with files), list, retrieve, modify, delete; activity, expiry.

A store's `status`, `file_counts` and `usage_bytes` are computed from its files when it is read (one
grouped query per page), so they never disagree with the files. `expires_at` follows `last_active_at`
(`expires_after.days` later); the sweep marks a store past it `expired`, as OpenAI did.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from gateway.engine.store import direct
from gateway.engine.store.db import Db
from gateway.engine.store.errors import NotFound
from gateway.engine.store.ids import new_id
from gateway.engine.store.paging import page
from gateway.engine.store.render import JSON, Row
from gateway.engine.store.store_files import NewStoreFile, attach
from gateway.engine.store.tables import INGEST_STATUSES
from gateway.engine.store.tables import vector_store_files as f
from gateway.engine.store.tables import vector_stores as t

DAY: Final = 86_400
_DUE = (  # made once, as every sweep runs it
    select(t.c.id)
    .where(t.c.expired.is_(False), t.c.expires_at.is_not(None), t.c.expires_at <= bindparam("b_now"))
    .limit(500)
)


def counts(conn: Connection, store_ids: Sequence[str], batch_id: str | None = None) -> dict[str, JSON]:
    """`file_counts` plus `usage_bytes` per store (or for one batch), in one grouped query."""
    out: dict[str, JSON] = {i: {s: 0 for s in INGEST_STATUSES} | {"usage_bytes": 0} for i in store_ids}
    if not store_ids:
        return out
    stmt = (
        select(f.c.vector_store_id, f.c.status, func.count(), func.coalesce(func.sum(f.c.usage_bytes), 0))
        .where(f.c.vector_store_id.in_(store_ids))
        .group_by(f.c.vector_store_id, f.c.status)
    )
    if batch_id is not None:
        stmt = stmt.where(f.c.batch_id == batch_id)
    for store_id, status, n, used in conn.execute(stmt):
        out[store_id][status] = int(n)
        out[store_id]["usage_bytes"] += int(used)
    return out


def file_counts(c: JSON) -> JSON:
    return {
        "in_progress": c["in_progress"],
        "completed": c["completed"],
        "failed": c["failed"],
        "cancelled": c["cancelled"],
        "total": sum(c[s] for s in INGEST_STATUSES),
    }


def store_object(r: Row, c: JSON) -> JSON:
    status = "expired" if r["expired"] else "in_progress" if c["in_progress"] else "completed"
    return {
        "id": r["id"],
        "object": "vector_store",
        "created_at": r["created_at"],
        "name": r["name"],
        "usage_bytes": c["usage_bytes"],
        "file_counts": file_counts(c),
        "status": status,
        "expires_after": r["expires_after"],
        "expires_at": r["expires_at"],
        "last_active_at": r["last_active_at"],
        "metadata": r["metadata"],
    }


def get(conn: Connection, tenant: str | None, store_id: str) -> Row:
    conds = [t.c.id == store_id] if tenant is None else [t.c.id == store_id, t.c.tenant == tenant]
    row = conn.execute(select(t).where(*conds)).mappings().first()
    if row is None:
        raise NotFound("vector store", store_id)
    return row


def render(conn: Connection, row: Row) -> JSON:
    return store_object(row, counts(conn, [row["id"]])[row["id"]])


def _expires_at(expires_after: JSON | None, last_active_at: int) -> int | None:
    return None if expires_after is None else last_active_at + int(expires_after["days"]) * DAY


class VectorStores:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def create(
        self,
        tenant: str,
        *,
        name: str | None,
        description: str | None = None,
        metadata: JSON | None = None,
        expires_after: JSON | None = None,
        files: Sequence[NewStoreFile] = (),
    ) -> JSON:
        """A new store, and its files queued for ingestion, in one transaction (an unknown file: 404,
        nothing made)."""
        now = self._db.clock()
        store_id = new_id("vs", now)
        values: dict[str, Any] = {
            "id": store_id,
            "tenant": tenant,
            "created_at": now,
            "name": name or "",
            "description": description,
            "metadata": metadata or {},
            "expires_after": expires_after,
            "expires_at": _expires_at(expires_after, now),
            "last_active_at": now,
            "expired": False,
            "generation": 0,
        }

        def body(conn: Connection) -> JSON:
            conn.execute(insert(t).values(**values))
            attach(conn, tenant, store_id, files, None, now)
            return render(conn, get(conn, tenant, store_id))

        return await self._db.write(body)

    async def retrieve(self, tenant: str, store_id: str) -> JSON:
        return await self._db.read(lambda conn: render(conn, get(conn, tenant, store_id)))

    async def list(self, tenant: str, **cursor: Any) -> JSON:
        def body(conn: Connection) -> JSON:
            result = page(conn, t, [t.c.tenant == tenant], dict, **cursor)
            per_store = counts(conn, [r["id"] for r in result["data"]])
            result["data"] = [store_object(r, per_store[r["id"]]) for r in result["data"]]
            return result

        return await self._db.read(body)

    async def modify(self, tenant: str, store_id: str, changes: JSON) -> JSON:
        """`name`, `metadata`, `expires_after` (None: never expires); a change is activity."""

        def body(conn: Connection) -> JSON:
            row = get(conn, tenant, store_id)
            now = self._db.clock()
            values: dict[str, Any] = {"last_active_at": now}
            if "name" in changes:
                values["name"] = changes["name"] or ""
            if "metadata" in changes:
                values["metadata"] = changes["metadata"] or {}
            expires_after = changes["expires_after"] if "expires_after" in changes else row["expires_after"]
            values["expires_after"] = expires_after
            values["expires_at"] = _expires_at(expires_after, now)
            conn.execute(update(t).where(t.c.id == store_id).values(**values))
            return render(conn, get(conn, tenant, store_id))

        return await self._db.write(body)

    async def delete(self, tenant: str, store_id: str) -> JSON:
        def body(conn: Connection) -> JSON:
            get(conn, tenant, store_id)
            conn.execute(delete(t).where(t.c.id == store_id))  # files and chunks by cascade
            return {"id": store_id, "object": "vector_store.deleted", "deleted": True}

        return await self._db.write(body)

    async def touch(self, store_ids: Sequence[str]) -> None:
        """The stores were used (searched): `last_active_at` is now, and their expiry moves with it."""
        now = self._db.clock()

        def body(conn: Connection) -> None:
            for row in conn.execute(select(t.c.id, t.c.expires_after).where(t.c.id.in_(store_ids))):
                conn.execute(
                    update(t)
                    .where(t.c.id == row.id)
                    .values(last_active_at=now, expires_at=_expires_at(row.expires_after, now))
                )

        await self._db.write(body)

    async def sweep(self, now: int) -> builtins.list[str]:
        """Mark stores past their `expires_at` expired; their ids."""

        def body(conn: Connection) -> builtins.list[str]:
            ids = [r[0] for r in direct.rows(conn, _DUE, {"b_now": now})]
            if ids:
                conn.execute(update(t).where(t.c.id.in_(ids)).values(expired=True))
            return ids

        return await self._db.write(body)
