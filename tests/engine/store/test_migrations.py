"""Migrations from an empty database on both backends; the migrated schema equals `tables.metadata`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, Integer, MetaData, Table, inspect

from gateway.engine.store import Store, current_revision, metadata, migrate
from gateway.engine.store.db import open_db
from gateway.engine.store.ids import system_clock
from tests.postgres import PgServer, fresh_pg_db

pytestmark = pytest.mark.asyncio


async def _empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    server: PgServer = request.getfixturevalue("pg_server")
    return await fresh_pg_db(server, migrated=False)


def _diff(conn: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


def _planted(conn: Connection) -> list[Any]:
    changed = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    Table("runs", changed, Column("surprise", Integer), extend_existing=True)
    return list(compare_metadata(MigrationContext.configure(conn), changed))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_migrate_from_empty_matches_metadata(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = await _empty_url(backend, tmp_path, request)
    assert await current_revision(url) is None
    await migrate(url)
    assert await current_revision(url) == "0001"
    await migrate(url)  # at head: a no-op
    db = open_db(url, system_clock)
    try:
        assert await db.read(_diff) == []
        assert await db.read(_tables) == {*metadata.tables, "alembic_version"}
        assert await db.read(_planted) != []  # the comparison does see differences
    finally:
        await db.close()


async def test_concurrent_migrations_both_succeed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = await _empty_url(backend, tmp_path, request)
    await asyncio.gather(*(migrate(url) for _ in range(4)))
    assert await current_revision(url) == "0001"


async def test_in_memory_sqlite_store_migrates_its_own_engine() -> None:
    store = await Store.open("sqlite:///:memory:", migrate=True)
    try:
        a = await store.assistants.create("t", model="m")
        assert (await store.assistants.retrieve("t", a["id"]))["model"] == "m"
    finally:
        await store.close()
