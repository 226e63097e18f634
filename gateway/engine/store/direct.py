"""The engine's hot statements straight on the driver: compiled once, binds in order.

SQLAlchemy's execution path (an execution context, parameter construction, result metadata) costs a few times
what the driver's `execute` of the same SQL and values does, and a streamed run makes ten such statements
(tests/bench/README.md, "Measurements behind the design"). `execute`, `first`, `scalar` and `rows` compile a
statement once per shape of its parameters (with SQLAlchemy, so the SQL is the same), then bind the values in
the compiled order (one `itemgetter` over the parameters and the statement's constants, these processed once)
through each bind's own type processor (JSON serialized as SQLAlchemy would) and process result columns with
each column's result processor. Statements this cannot run the same way (Python-side column defaults,
expanding or literal-execute binds, a required bind not given) take SQLAlchemy's path.
Plans are cached by the statement object: pass statements made once (module constants, cached builders), as
every caller does, not ones built per call.

Same transaction either way, and a failure goes the way SQLAlchemy's own would: the `Connection` wraps the
driver's exception (`sqlalchemy.exc`, so `IntegrityError` and the rest mean the same on either path) and
invalidates a connection that died.
- SQLite: the cursor is the connection's own (its `dbapi_connection`, which for pysqlite is the driver's
  connection itself, without the four property calls `driver_connection` makes on each statement).
- PostgreSQL (asyncpg): the statement runs on the asyncpg connection under SQLAlchemy's adapter, awaited from
  the transaction body's greenlet as the adapter's cursor does, after starting the adapter's transaction if
  its first statement is this one (autocommit: none); the adapter translates a failure before the
  `Connection` sees it. That takes four private names of the adapter and, on both databases, one of
  `Connection`: pinned by `sqlalchemy<2.1` and held by `tests/engine/store/test_direct.py`.
"""

from __future__ import annotations

import functools
import operator
from collections import namedtuple
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import JSON, Connection, Float, String
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.sql.elements import BindParameter

Processor = Callable[[Any], Any] | None
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    take: Callable[[Mapping[str, Any]], Any]  # the binds' values in order, from the parameters and constants
    constants: dict[str, Any]  # a constant bind's value (processed), by a key no parameter has
    processed: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, processor) of given binds with one
    columns: tuple[str, ...]
    results: tuple[Processor, ...]
    row: Any  # a namedtuple class of `columns`

    def values(self, params: Mapping[str, Any]) -> Sequence[Any]:
        taken = self.take({**params, **self.constants} if self.constants else params)
        if not self.processed:
            return taken  # type: ignore[no-any-return]
        out = list(taken)
        for i, proc in self.processed:
            out[i] = proc(out[i])
        return out

    def fetch(self, cursor: Any) -> list[tuple[Any, ...]]:
        found = cursor.fetchall()
        if not any(self.results):
            return found  # type: ignore[no-any-return]
        procs = self.results
        return [tuple(v if p is None else p(v) for p, v in zip(procs, r, strict=True)) for r in found]


@functools.lru_cache(maxsize=512)
def _plan(stmt: Any, keys: tuple[str, ...], dialect: Dialect) -> _Plan | None:
    """How to run `stmt` with parameters named `keys` directly; None if only SQLAlchemy can."""
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.positiontup is None:
        return None
    order: list[str] = []
    constants: dict[str, Any] = {}
    processed: list[tuple[int, Callable[[Any], Any]]] = []
    for position, name in enumerate(compiled.positiontup):
        bind: BindParameter[Any] = compiled.binds[name]
        if bind.expanding or bind.literal_execute or bind.callable is not None:
            return None
        proc = _processor(bind, dialect)
        if bind.key in keys:
            order.append(bind.key)
            if proc is not None:
                processed.append((position, proc))
        elif bind.required:
            return None  # SQLAlchemy raises for it: let it
        else:  # a constant (`status == "in_progress"`): processed once, here
            key = f"\0{position}"  # not a parameter's name
            constants[key] = bind.value if proc is None else proc(bind.value)
            order.append(key)
    take = operator.itemgetter(*order) if len(order) > 1 else _single(order[0]) if order else _none
    returned = list(getattr(stmt, "exported_columns", ()))  # a SELECT's columns, a DML's RETURNING (text: ())
    columns = tuple(c.key for c in returned)
    try:
        results = tuple(_result(c.type.dialect_impl(dialect), dialect) for c in returned)
    except (TypeError, InvalidRequestError):  # a processor that needs the column's server type (asyncpg's
        return None  # for numbers): SQLAlchemy reads it from the result
    row = namedtuple("Row", columns, rename=True) if columns else tuple
    return _Plan(compiled.string, take, constants, tuple(processed), columns, results, row)


def _processor(bind: BindParameter[Any], dialect: Dialect) -> Processor:
    """The bind's type processor. A JSON one is the dialect's serializer itself where SQLAlchemy's would
    only call it (`none_as_null` off: None is JSON `null` either way, as SQLAlchemy stores it); the store
    binds plain values, never `JSON.NULL` or `null()`, which only SQLAlchemy's processor takes."""
    impl = bind.type.dialect_impl(dialect)
    serializer = getattr(dialect, "_json_serializer", None)
    plain = String().dialect_impl(dialect).bind_processor(dialect) is None  # SQLAlchemy's would add it
    if isinstance(impl, JSON) and not impl.none_as_null and serializer is not None and plain:
        return serializer  # type: ignore[no-any-return]
    return impl.bind_processor(dialect)


def _result(impl: Any, dialect: Dialect) -> Processor:
    """The column's result processor. On asyncpg, `Float` columns (FLOAT, float8 on PostgreSQL) come back
    as Python floats, for which SQLAlchemy's processor (chosen by the server's type) is none."""
    if dialect.driver == "asyncpg" and isinstance(impl, Float) and not impl.asdecimal:
        return None
    return impl.result_processor(dialect, None)  # type: ignore[no-any-return]


def _single(key: str) -> Callable[[Mapping[str, Any]], tuple[Any]]:
    return lambda params: (params[key],)


def _none(_: Mapping[str, Any]) -> tuple[()]:
    return ()


class _Found:
    """What a statement run on asyncpg gave, as the cursor `_Plan.fetch` and the callers read."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int = -1) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def fetchall(self) -> list[Any]:
        return self._rows


def _on_asyncpg(conn: Connection, sql: str, call: Callable[[Any], Awaitable[T]], values: Any) -> T:
    """`call(asyncpg connection)` in `conn`'s transaction, from the body's greenlet; failures as SQLAlchemy
    raises them (see the module doc)."""
    adapted: Any = conn.connection.dbapi_connection
    try:
        try:
            if not adapted._started:
                adapted.await_(adapted._start_transaction())  # no-op in autocommit
            return adapted.await_(call(adapted._connection))  # type: ignore[no-any-return]
        except Exception as error:
            adapted._handle_exception(error)  # raises the adapter's DBAPI error for it
            raise
    except BaseException as error:  # as `Connection` handles its own statement's
        conn._handle_dbapi_exception(error, sql, values, None, None)


def _rowcount(status: str) -> int:
    """The row count in asyncpg's command status (`UPDATE 2`, `INSERT 0 1`), as the adapter reads it."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else -1


def _direct(
    conn: Connection, stmt: Any, params: Mapping[str, Any], *, rows: bool = True
) -> tuple[_Plan, Any] | None:
    dialect = conn.dialect
    sqlite = dialect.name == "sqlite"
    if not sqlite and dialect.driver != "asyncpg":
        return None
    plan = _plan(stmt, tuple(params), dialect)
    if plan is None:
        return None
    sql, values = plan.sql, plan.values(params)
    if sqlite:
        try:
            return plan, conn.connection.dbapi_connection.execute(sql, values)  # type: ignore[union-attr]
        except BaseException as error:  # as `Connection` handles its own statement's
            conn._handle_dbapi_exception(error, sql, values, None, None)
    if rows:
        return plan, _Found(_on_asyncpg(conn, sql, lambda raw: raw.fetch(sql, *values), values))
    return plan, _Found([], _rowcount(_on_asyncpg(conn, sql, lambda raw: raw.execute(sql, *values), values)))


def execute(conn: Connection, stmt: Any, params: Mapping[str, Any]) -> int:
    """Run a statement that returns no rows; its rowcount."""
    ran = _direct(conn, stmt, params, rows=False)
    if ran is None:
        return conn.execute(stmt, params).rowcount
    return ran[1].rowcount  # type: ignore[no-any-return]


def execute_many(conn: Connection, stmt: Any, params: Sequence[Mapping[str, Any]]) -> None:
    """Run a statement that returns no rows once per parameter set (all with the same keys), in one call of
    the driver's `executemany`."""
    dialect = conn.dialect
    sqlite = dialect.name == "sqlite"
    plan = _plan(stmt, tuple(params[0]), dialect) if sqlite or dialect.driver == "asyncpg" else None
    if plan is None:
        conn.execute(stmt, list(params))
        return
    sql, values = plan.sql, plan.values
    many = [values(p) for p in params]
    if not sqlite:
        _on_asyncpg(conn, sql, lambda raw: raw.executemany(sql, many), many)
        return
    try:
        conn.connection.dbapi_connection.executemany(sql, many)  # type: ignore[union-attr]
    except BaseException as error:
        conn._handle_dbapi_exception(error, sql, many, None, None)


def first(conn: Connection, stmt: Any, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first row (RETURNING or SELECT) as a mapping of column keys, or None."""
    ran = _direct(conn, stmt, params)
    if ran is None:
        row: Mapping[str, Any] | None = conn.execute(stmt, params).mappings().first()  # type: ignore[assignment]
        return row
    plan, cursor = ran
    found = plan.fetch(cursor)
    return dict(zip(plan.columns, found[0], strict=True)) if found else None


def scalar(conn: Connection, stmt: Any, params: Mapping[str, Any]) -> Any:
    """The first column of the first row, or None."""
    ran = _direct(conn, stmt, params)
    if ran is None:
        return conn.scalar(stmt, params)
    found = ran[0].fetch(ran[1])
    return found[0][0] if found else None


def rows(conn: Connection, stmt: Any, params: Mapping[str, Any]) -> list[Any]:
    """Every row, each with its columns as attributes (as SQLAlchemy's rows have them)."""
    ran = _direct(conn, stmt, params)
    if ran is None:
        return list(conn.execute(stmt, params).all())
    plan, cursor = ran
    make = plan.row._make
    return [make(r) for r in plan.fetch(cursor)]
