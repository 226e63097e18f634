"""Driver failures become StoreUnavailable: a full pool times out, an unreachable server is reported."""

from __future__ import annotations

import asyncio
import socket

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.engine.store import Store, StoreUnavailable, current_revision, driver_url
from tests.engine.store.helpers import tenant

pytestmark = pytest.mark.asyncio


async def test_url_mapping() -> None:
    assert driver_url("sqlite:///var/lib/x.db") == "sqlite+pysqlite:///var/lib/x.db"
    assert driver_url("sqlite:///:memory:") == "sqlite+pysqlite:///:memory:"
    assert driver_url("postgresql://u:p@h:5432/db") == "postgresql+asyncpg://u:p@h:5432/db"
    assert driver_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    for bad in ("mysql://x", "x.db", ""):
        with pytest.raises(ValueError):
            driver_url(bad)


async def test_pool_timeout_raises_instead_of_queueing(db_url: str) -> None:
    store = await Store.open(db_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    engine = store.db.engine
    try:
        if isinstance(engine, AsyncEngine):
            async with engine.connect() as held:
                await held.exec_driver_sql("SELECT 1")
                with pytest.raises(StoreUnavailable, match="pool timed out"):
                    await asyncio.wait_for(store.assistants.list(tenant()), 5)
        else:
            with engine.connect() as sync_held:
                sync_held.exec_driver_sql("SELECT 1")
                with pytest.raises(StoreUnavailable, match="pool timed out"):
                    await asyncio.wait_for(store.assistants.list(tenant()), 5)
        assert (await store.assistants.list(tenant()))["data"] == []  # usable again once a connection is free
    finally:
        await store.close()


async def test_unreachable_postgres_is_unavailable_without_secrets() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    url = f"postgresql://user:s3cret-pw@127.0.0.1:{port}/db"
    store = await Store.open(url, pool_timeout=1)
    try:
        with pytest.raises(StoreUnavailable) as e:
            await store.assistants.list("t")
        assert "s3cret" not in str(e.value)
        with pytest.raises(StoreUnavailable):
            await current_revision(url)
        assert await store.ping() is False
    finally:
        await store.close()
