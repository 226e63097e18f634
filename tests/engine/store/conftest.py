"""A fresh database per test: an SQLite file, or a copy of the migrated template on the session's
PostgreSQL server (`pg_server`, tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from gateway.engine.store import Store, migrate
from tests.postgres import PgServer, fresh_pg_db

START = 1_700_000_000


class Clock:
    """The store's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> int:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A migrated, empty database of the test's backend."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        await migrate(url)
        return url
    server: PgServer = request.getfixturevalue("pg_server")
    return await fresh_pg_db(server, migrated=True)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest_asyncio.fixture
async def store(db_url: str, clock: Clock) -> AsyncIterator[Store]:
    s = await Store.open(db_url, clock=clock, pool_size=25, max_overflow=5, pool_timeout=30.0)
    try:
        yield s
    finally:
        await s.close()
