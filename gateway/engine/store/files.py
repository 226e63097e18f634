"""Uploaded files: their rows and their bytes, written part by part as an upload arrives.

An upload is `begin` (a row in status `uploading`, seen by no read), `write_part` per `PART_BYTES` of
content (each its own short transaction, so no transaction holds a whole file), then `finish` (status
`processed`, size and purpose set) or `discard`. Uploads a crashed process left behind are removed by
`sweep` once they are older than `STALE_UPLOAD` seconds. Deleting a file removes it from every vector
store (its `vector_store_files` rows and their chunks go with it, by cascade), as OpenAI's did.
"""

from __future__ import annotations

import builtins
from typing import Any, Final

from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select, update

from gateway.engine.store import direct
from gateway.engine.store.db import Db
from gateway.engine.store.errors import NotFound
from gateway.engine.store.ids import new_id
from gateway.engine.store.paging import page
from gateway.engine.store.render import JSON, Row
from gateway.engine.store.tables import file_parts as p
from gateway.engine.store.tables import files as t
from gateway.engine.store.tables import vector_store_files, vector_stores

STALE_UPLOAD: Final = 24 * 3600
_DUE = (  # made once, as every sweep runs it
    select(t.c.id)
    .where(
        or_(
            and_(t.c.expires_at.is_not(None), t.c.expires_at <= bindparam("b_now")),
            and_(t.c.status == "uploading", t.c.created_at < bindparam("b_stale")),
        )
    )
    .limit(500)
)
MAX_LIST: Final = 10_000  # OpenAI's files list took `limit` up to 10,000 (its default too)


def file_object(r: Row) -> JSON:
    return {
        "id": r["id"],
        "object": "file",
        "bytes": r["bytes"],
        "created_at": r["created_at"],
        "expires_at": r["expires_at"],
        "filename": r["filename"],
        "purpose": r["purpose"],
        "status": "processed",
        "status_details": None,
    }


def _get(conn: Connection, tenant: str | None, file_id: str) -> Row:
    conds = [t.c.id == file_id, t.c.status == "processed"]
    if tenant is not None:
        conds.append(t.c.tenant == tenant)
    row = conn.execute(select(t).where(*conds)).mappings().first()
    if row is None:
        raise NotFound("file", file_id)
    return row


class Files:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def begin(self, tenant: str, *, filename: str, purpose: str, expires_at: int | None) -> str:
        """A new file's id, its row `uploading` until `finish`."""
        file_id = new_id("file")
        values = {
            "id": file_id,
            "tenant": tenant,
            "created_at": self._db.clock(),
            "bytes": 0,
            "filename": filename,
            "purpose": purpose,
            "status": "uploading",
            "expires_at": expires_at,
        }
        await self._db.write(lambda conn: conn.execute(insert(t).values(**values)))
        return file_id

    async def write_part(self, file_id: str, part: int, data: bytes) -> None:
        await self._db.write(
            lambda conn: conn.execute(insert(p).values(file_id=file_id, part=part, data=data))
        )

    async def finish(
        self,
        tenant: str,
        file_id: str,
        size: int,
        *,
        purpose: str | None = None,
        expires_after: int | None = None,
    ) -> JSON:
        """The upload is whole: the file becomes visible. `purpose` and `expires_after` (seconds from
        its creation) are set here when the form named them after the file's bytes."""

        def body(conn: Connection) -> JSON:
            changes: dict[str, Any] = {"status": "processed", "bytes": size}
            if purpose is not None:
                changes["purpose"] = purpose
            if expires_after is not None:
                changes["expires_at"] = t.c.created_at + expires_after
            conn.execute(
                update(t)
                .where(t.c.id == file_id, t.c.tenant == tenant, t.c.status == "uploading")
                .values(changes)
            )
            return file_object(_get(conn, tenant, file_id))

        return await self._db.write(body)

    async def discard(self, file_id: str) -> None:
        """Remove an upload that did not complete (its parts go by cascade)."""
        await self._db.write(lambda conn: _remove(conn, [file_id]))

    async def retrieve(self, tenant: str, file_id: str) -> JSON:
        return await self._db.read(lambda conn: file_object(_get(conn, tenant, file_id)))

    async def row(self, tenant: str | None, file_id: str) -> JSON:
        """The file's row (`tenant` None: the engine's own read of an id it holds)."""
        return await self._db.read(lambda conn: dict(_get(conn, tenant, file_id)))

    async def list(self, tenant: str, *, purpose: str | None = None, **cursor: Any) -> JSON:
        filters = [t.c.status == "processed"]
        if purpose is not None:
            filters.append(t.c.purpose == purpose)
        return await self._db.read(
            lambda conn: page(
                conn, t, [t.c.tenant == tenant], file_object, filters=filters, max_limit=MAX_LIST, **cursor
            )
        )

    async def delete(self, tenant: str, file_id: str) -> JSON:
        def body(conn: Connection) -> JSON:
            _get(conn, tenant, file_id)
            _remove(conn, [file_id])
            return {"id": file_id, "object": "file", "deleted": True}

        return await self._db.write(body)

    async def part(self, file_id: str, index: int) -> bytes | None:
        """Part `index` of a file's bytes (None past the last), each read its own short transaction."""
        stmt = select(p.c.data).where(p.c.file_id == file_id, p.c.part == index)
        data = await self._db.read(lambda conn: conn.scalar(stmt))
        return None if data is None else bytes(data)

    async def sweep(self, now: int) -> builtins.list[str]:
        """Delete expired files and uploads abandoned for `STALE_UPLOAD` seconds; their ids."""

        def body(conn: Connection) -> builtins.list[str]:
            ids = [r[0] for r in direct.rows(conn, _DUE, {"b_now": now, "b_stale": now - STALE_UPLOAD})]
            if ids:
                _remove(conn, ids)
            return ids

        return await self._db.write(body)


def _remove(conn: Connection, ids: list[str]) -> None:
    """Delete files; the vector stores that held them see their contents change (`generation`)."""
    stores = select(vector_store_files.c.vector_store_id).where(vector_store_files.c.id.in_(ids))
    conn.execute(
        update(vector_stores)
        .where(vector_stores.c.id.in_(stores))
        .values(generation=vector_stores.c.generation + 1)
    )
    conn.execute(delete(p).where(p.c.file_id.in_(ids)))
    conn.execute(delete(t).where(t.c.id.in_(ids)))
