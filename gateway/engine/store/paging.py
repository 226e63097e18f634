"""OpenAI cursor pages: `limit` 1-100, `order` asc|desc by `seq`, `after`/`before` object ids, `has_more`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Table, bindparam, select

from gateway.engine.store.errors import InvalidCursor, InvalidPage, NotFound
from gateway.engine.store.render import JSON, Row
from gateway.engine.store.tables import threads


@functools.cache
def _exists(table: Table) -> Select[Any]:
    return select(table.c.seq).where(table.c.id == bindparam("b_id"), table.c.tenant == bindparam("b_tenant"))


def exists(conn: Connection, table: Table, kind: str, tenant: str, id: str) -> None:
    """NotFound unless this tenant has the object (a list of a missing parent is a 404, not an empty page)."""
    if conn.scalar(_exists(table), {"b_id": id, "b_tenant": tenant}) is None:
        raise NotFound(kind, id)


def check(limit: int, order: str, max_limit: int = 100) -> None:
    """Raised before any IO, so a bad page never costs a round trip."""
    if not 1 <= limit <= max_limit:
        raise InvalidPage(f"Invalid 'limit': must be between 1 and {max_limit}.", "limit")
    if order not in ("asc", "desc"):
        raise InvalidPage("Invalid 'order': must be 'asc' or 'desc'.", "order")


def page(
    conn: Connection,
    table: Table,
    scope: Sequence[ColumnElement[bool]],
    to_json: Callable[[Row], JSON],
    *,
    filters: Sequence[ColumnElement[bool]] = (),
    limit: int = 20,
    order: str = "desc",
    after: str | None = None,
    before: str | None = None,
    max_limit: int = 100,
) -> JSON:
    """One page of `table` rows in `scope` (tenant, parent) narrowed by `filters`; cursors resolve in `scope`.

    `before` alone returns the `limit` objects just before the cursor in list order (walking back from it),
    and `has_more` then says whether more lie further back, as OpenAI does. Fetches limit + 1 rows.
    """
    check(limit, order, max_limit)
    desc = order == "desc"
    seq = table.c.seq
    conds = [*scope, *filters]
    if after is not None:
        at = _cursor(conn, table, scope, "after", after)
        conds.append(seq < at if desc else seq > at)
    if before is not None:
        at = _cursor(conn, table, scope, "before", before)
        conds.append(seq > at if desc else seq < at)
    backwards = before is not None and after is None
    ascending = desc == backwards
    stmt = select(table).where(*conds).order_by(seq.asc() if ascending else seq.desc()).limit(limit + 1)
    rows: list[Any] = list(conn.execute(stmt).mappings())
    has_more = len(rows) > limit
    del rows[limit:]
    if backwards:
        rows.reverse()
    data = [to_json(r) for r in rows]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def _cursor(conn: Connection, table: Table, scope: Sequence[ColumnElement[bool]], param: str, id: str) -> int:
    at = conn.scalar(select(table.c.seq).where(table.c.id == id, *scope))
    if at is None:
        raise InvalidCursor(param, id)
    return int(at)


def thread_page(
    conn: Connection,
    table: Table,
    to_json: Callable[[Row], JSON],
    tenant: str,
    thread_id: str,
    *,
    filters: Sequence[ColumnElement[bool]] = (),
    **cursor: Any,
) -> JSON:
    """A page of one thread's objects (messages, runs); a thread this tenant does not have is a 404."""
    exists(conn, threads, "thread", tenant, thread_id)
    scope = [table.c.thread_id == thread_id, table.c.tenant == tenant]
    return page(conn, table, scope, to_json, filters=filters, **cursor)
