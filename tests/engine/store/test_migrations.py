"""Migrations from an empty database on both backends; the migrated schema equals `tables.metadata`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, Integer, MetaData, Table, inspect, text

from gateway.engine.store import Store, current_revision, metadata, migrate
from gateway.engine.store.db import open_db
from gateway.engine.store.ids import system_clock
from gateway.engine.store.migrate import config, head
from gateway.engine.store.search_index import FTS_TABLE, VECTOR_COLUMN, include_object, is_index_object
from tests.postgres import PgServer, fresh_pg_db

pytestmark = pytest.mark.asyncio


async def _empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    server: PgServer = request.getfixturevalue("pg_server")
    return await fresh_pg_db(server, migrated=False)


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"include_object": include_object})
    return list(compare_metadata(context, metadata))


def _unfiltered_diff(conn: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


def _planted(conn: Connection) -> list[Any]:
    changed = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    Table("runs", changed, Column("surprise", Integer), extend_existing=True)
    return list(compare_metadata(MigrationContext.configure(conn), changed))


def _tables(conn: Connection) -> set[str]:
    return {name for name in inspect(conn).get_table_names() if not is_index_object(name, "table")}


def _index_objects(conn: Connection) -> set[str]:
    """The keyword index's own objects, as the database lists them."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')"))
    else:
        rows = conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'vector_store_chunks'"))
        columns = {c["name"] for c in inspect(conn).get_columns("vector_store_chunks")}
        assert VECTOR_COLUMN in columns, columns
    return {r[0] for r in rows if r[0].startswith(FTS_TABLE)}


async def test_migrate_from_empty_matches_metadata(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = await _empty_url(backend, tmp_path, request)
    assert await current_revision(url) is None
    await migrate(url)
    assert await current_revision(url) == head() == "0006"
    await migrate(url)  # at head: a no-op
    db = open_db(url, system_clock)
    try:
        assert await db.read(_diff) == []
        assert await db.read(_tables) == {*metadata.tables, "alembic_version"}
        assert await db.read(_planted) != []  # the comparison does see differences
        # The keyword index exists, and is what the filter leaves out (and all it leaves out).
        objects = await db.read(_index_objects)
        if backend == "sqlite":
            assert {FTS_TABLE, f"{FTS_TABLE}_insert", f"{FTS_TABLE}_delete"} <= objects
        else:
            assert objects == {FTS_TABLE}
        left_out = [d for d in await db.read(_unfiltered_diff) if d not in await db.read(_diff)]
        assert left_out, "the unfiltered comparison sees the index"
    finally:
        await db.close()


@pytest.mark.parametrize("start", ["0001", "0002", "0003", "0004", "0005"])
async def test_upgrade_from_an_earlier_head_keeps_data(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, start: str
) -> None:
    """An earlier head (0005 the previous one) -> head on a database with objects in it: they survive,
    and the new tables work."""
    url = await _empty_url(backend, tmp_path, request)
    db = open_db(url, system_clock)
    try:
        await db.write(lambda conn: command.upgrade(config(conn), start))
    finally:
        await db.close()
    assert await current_revision(url) == start
    store = await Store.open(url)
    try:
        assistant = await store.assistants.create("t", model="MiniMax-M2.7", name="kept")
        thread = await store.threads.create("t")
    finally:
        await store.close()
    await migrate(url)
    assert await current_revision(url) == head() == "0006"
    store = await Store.open(url)
    try:
        assert (await store.assistants.retrieve("t", assistant["id"]))["name"] == "kept"
        made = await store.files.begin("t", filename="a.txt", purpose="assistants", expires_at=None)
        await store.files.write_part(made, 0, b"hello")
        done = await store.files.finish("t", made, 5)
        assert (await store.files.retrieve("t", done["id"]))["bytes"] == 5
        assert await store.code_sessions.get("t", thread["id"]) is None
        await store.code_sessions.touch("t", thread["id"], "here")
        await store.code_sessions.touch("t", thread["id"], "there")
        place = await store.code_sessions.get("t", thread["id"])
        assert place is not None and place.location == "there"
        assert await store.code_sessions.get("other", thread["id"]) is None  # another tenant's: absent
        await store.threads.delete("t", thread["id"])
        assert await store.code_sessions.get("t", thread["id"]) is None  # gone with its thread
        made_thread, run, history = await store.runs.create_started_in_new_thread(
            "t", assistant["id"], thread_messages=[{"role": "user", "content": "hi"}]
        )
        assert run["thread_id"] == made_thread["id"] and [h.role for h in history] == ["user"]
    finally:
        await store.close()


async def test_concurrent_migrations_both_succeed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = await _empty_url(backend, tmp_path, request)
    await asyncio.gather(*(migrate(url) for _ in range(4)))
    assert await current_revision(url) == head()


async def test_in_memory_sqlite_store_migrates_its_own_engine() -> None:
    store = await Store.open("sqlite:///:memory:", migrate=True)
    try:
        a = await store.assistants.create("t", model="m")
        assert (await store.assistants.retrieve("t", a["id"]))["model"] == "m"
    finally:
        await store.close()


def _schema(conn: Connection) -> dict[str, Any]:
    """What a migration can leave behind: tables with their columns, the keyword index's objects,
    and on PostgreSQL the gateway's functions (signature -> the digest of its definition)."""
    tables = {name: sorted(c["name"] for c in inspect(conn).get_columns(name)) for name in _tables(conn)}
    functions: dict[str, str] = {}
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(
                "SELECT proname || '(' || pg_get_function_identity_arguments(oid) || ')',"
                " md5(pg_get_functiondef(oid)) FROM pg_proc WHERE proname LIKE 'gateway\\_%'"
            )
        )
        functions = {r[0]: r[1] for r in rows}
    index = sorted(_index_objects_any(conn))
    return {"tables": tables, "index": index, "functions": functions}


def _index_objects_any(conn: Connection) -> set[str]:
    """`_index_objects` for any revision (the chunks table, and the index with it, may not be there yet)."""
    if "vector_store_chunks" not in inspect(conn).get_table_names():
        return set()
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')"))
    else:
        rows = conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'vector_store_chunks'"))
    return {r[0] for r in rows if r[0].startswith(FTS_TABLE)}


async def _schema_at(url: str, revision: str, move: Any) -> dict[str, Any]:
    db = open_db(url, system_clock)
    try:
        await db.write(lambda conn: move(config(conn), revision))
        return await db.read(_schema)
    finally:
        await db.close()


async def test_each_downgrade_undoes_its_upgrade(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Head down to nothing, one revision at a time: each step leaves the schema a fresh database
    migrated up to that revision has; and head is reached again from there."""
    url = await _empty_url(backend, tmp_path, request)
    await migrate(url)
    fresh: dict[str, dict[str, Any]] = {}
    for revision in ("0001", "0002", "0003", "0004", "0005"):
        (tmp_path / revision).mkdir()
        other = await _empty_url(backend, tmp_path / revision, request)
        fresh[revision] = await _schema_at(other, revision, command.upgrade)
    assert fresh["0003"] != fresh["0002"] != fresh["0001"]  # each revision adds something to see
    at_head = await _schema_at(url, "head", command.upgrade)
    if backend == "postgresql":
        batch = "gateway_batch(p_move json, p_ops json)"
        start = "gateway_start_run(p_run json, p_messages json, p_start boolean)"
        assert sorted(fresh["0004"]["functions"]) == [batch, start]
        thread_run = "gateway_start_thread_run(p_thread json, p_run json, p_messages json, p_start boolean)"
        assert sorted(fresh["0005"]["functions"]) == [batch, start, thread_run]
        # 0006 adds a second gateway_batch beside 0004's (which the previous release calls, unchanged)
        # and replaces gateway_start_run's body
        texts = "gateway_batch(p_move json, p_ops json, p_json text[])"
        assert sorted(at_head["functions"]) == [batch, texts, start, thread_run]
        assert at_head["functions"][batch] == fresh["0005"]["functions"][batch]
        assert at_head["functions"][start] != fresh["0005"]["functions"][start]
    for revision in ("0005", "0004", "0003", "0002", "0001"):
        assert await _schema_at(url, revision, command.downgrade) == fresh[revision], revision
        assert await current_revision(url) == revision
    assert (await _schema_at(url, "base", command.downgrade))["tables"] == {
        "alembic_version": ["version_num"]
    }
    await migrate(url)
    assert await _schema_at(url, "head", command.upgrade) == at_head
