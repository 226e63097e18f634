"""Assistants: create, retrieve, list, modify, delete (per tenant)."""

from __future__ import annotations

from typing import Any, TypedDict

from sqlalchemy import Connection, bindparam, delete, select, update

from gateway.engine.store import render
from gateway.engine.store.db import Db
from gateway.engine.store.errors import NotFound
from gateway.engine.store.ids import new_id
from gateway.engine.store.paging import check, page
from gateway.engine.store.render import JSON
from gateway.engine.store.tables import assistants as t


class AssistantChanges(TypedDict, total=False):
    """The fields `modify` may change; a key that is present is set (None included)."""

    model: str
    name: str | None
    description: str | None
    instructions: str | None
    tools: list[JSON]
    tool_resources: JSON | None
    metadata: dict[str, str]
    temperature: float | None
    top_p: float | None
    response_format: Any


_INSERT = t.insert()
_MINE = (t.c.id == bindparam("id"), t.c.tenant == bindparam("tenant"))
_GET = select(t).where(*_MINE)
_DELETE = delete(t).where(*_MINE)


class Assistants:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def create(
        self,
        tenant: str,
        *,
        model: str,
        name: str | None = None,
        description: str | None = None,
        instructions: str | None = None,
        tools: list[JSON] | None = None,
        tool_resources: JSON | None = None,
        metadata: dict[str, str] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        response_format: Any = "auto",
    ) -> JSON:
        row = {
            "id": new_id("asst"),
            "tenant": tenant,
            "created_at": self._db.clock(),
            "model": model,
            "name": name,
            "description": description,
            "instructions": instructions,
            "tools": tools or [],
            "tool_resources": tool_resources,
            "metadata": metadata or {},
            "temperature": temperature,
            "top_p": top_p,
            "response_format": response_format,
        }
        await self._db.write(lambda conn: conn.execute(_INSERT, row))
        return render.assistant(row)

    async def retrieve(self, tenant: str, assistant_id: str) -> JSON:
        found = await self._db.first(_GET, {"id": assistant_id, "tenant": tenant})
        if found is None:
            raise NotFound("assistant", assistant_id)
        return render.assistant(found)

    async def list(
        self,
        tenant: str,
        *,
        limit: int = 20,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> JSON:
        check(limit, order)
        return await self._db.read(
            lambda conn: page(
                conn,
                t,
                [t.c.tenant == tenant],
                render.assistant,
                limit=limit,
                order=order,
                after=after,
                before=before,
            )
        )

    async def modify(self, tenant: str, assistant_id: str, changes: AssistantChanges) -> JSON:
        if not changes:
            return await self.retrieve(tenant, assistant_id)
        stmt = (
            update(t)
            .where(t.c.id == assistant_id, t.c.tenant == tenant)
            .values(dict(changes))
            .returning(*t.c)
        )
        found = await self._db.write(lambda conn: conn.execute(stmt).mappings().first())
        if found is None:
            raise NotFound("assistant", assistant_id)
        return render.assistant(found)

    async def delete(self, tenant: str, assistant_id: str) -> JSON:
        def body(conn: Connection) -> int:
            return conn.execute(_DELETE, {"id": assistant_id, "tenant": tenant}).rowcount

        if await self._db.write(body) == 0:
            raise NotFound("assistant", assistant_id)
        return render.deleted("assistant", assistant_id)
