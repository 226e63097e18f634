"""Alembic, run from code: `migrate(url)` upgrades to head, `current_revision(url)` says where a database is.

The revisions ship in `migrations/`; no alembic.ini. Two processes may migrate at once: on PostgreSQL the
upgrade runs under a session advisory lock; on SQLite it runs in one `BEGIN IMMEDIATE` transaction (DDL
is transactional there), so the second waits on `busy_timeout` and then finds the schema at head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.engine.store.db import UNAVAILABLE, Db, open_db, unavailable
from gateway.engine.store.ids import system_clock

SCRIPTS: Final = Path(__file__).parent / "migrations"
_LOCK_KEY: Final = 0x6D6D_6774_6D69_6772  # "mmgtmigr": any fixed 64-bit key no other code uses


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    command.upgrade(config(connection), "head")


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(db: Db) -> None:
    """Upgrade `db` to head (the Store's own connection pool: needed for `sqlite:///:memory:`)."""
    if not isinstance(db.engine, AsyncEngine):
        await db.write(_upgrade)
        return
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
            await conn.commit()
            try:
                async with conn.begin():
                    await conn.run_sync(_upgrade)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
                await conn.commit()
    except UNAVAILABLE as exc:
        raise unavailable(exc) from exc


async def migrate(url: str) -> None:
    """Upgrade the database at `DATABASE_URL` to the newest revision (safe to call concurrently)."""
    db = open_db(url, system_clock, pool_size=1, max_overflow=0)
    try:
        await upgrade(db)
    finally:
        await db.close()


def head() -> str | None:
    """The newest revision the code ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config()).get_current_head()


async def revision(db: Db) -> str | None:
    """`db`'s Alembic revision, through its own pool."""
    return await db.read(_revision)


async def current_revision(url: str) -> str | None:
    """The database's Alembic revision; None for an empty database."""
    db = open_db(url, system_clock, pool_size=1, max_overflow=0)
    try:
        return await db.read(_revision)
    finally:
        await db.close()
