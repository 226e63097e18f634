"""The `Store` facade: one database, its clock, and the per-object query groups the engine calls."""

from __future__ import annotations

from sqlalchemy import text

from gateway.engine.store.assistants import Assistants
from gateway.engine.store.batch import Batch
from gateway.engine.store.code_sessions import CodeSessionPlaces
from gateway.engine.store.db import Db, open_db
from gateway.engine.store.errors import StoreUnavailable
from gateway.engine.store.file_batches import FileBatches
from gateway.engine.store.files import Files
from gateway.engine.store.history import History
from gateway.engine.store.ids import Clock, system_clock
from gateway.engine.store.ingestion import Ingestion
from gateway.engine.store.leases import Leases
from gateway.engine.store.messages import Messages
from gateway.engine.store.migrate import head, revision, upgrade
from gateway.engine.store.runs import Runs
from gateway.engine.store.search import Search
from gateway.engine.store.steps import Steps
from gateway.engine.store.store_files import StoreFiles
from gateway.engine.store.threads import Threads
from gateway.engine.store.vector_stores import VectorStores


class Store:
    """`store.assistants`, `.threads`, `.messages`, `.runs`, `.steps`, `.leases`, and `store.history(...)`;
    for documents `.files`, `.vector_stores`, `.store_files`, `.file_batches`, `.ingestion`, `.search`;
    `.code_sessions` for where threads' code sessions live.

    Every call is one transaction (or one per swept run); `store.batch()` gathers several of the engine's
    writes into one. Client-facing calls take the tenant and treat another tenant's objects as absent;
    the engine's own calls on ids it holds accept `tenant=None`.
    """

    def __init__(self, db: Db, *, lease_ttl: float = 60.0) -> None:
        self.db = db
        self.assistants = Assistants(db)
        self.threads = Threads(db)
        self.messages = Messages(db)
        self.runs = Runs(db, lease_ttl)
        self.steps = Steps(db)
        self.leases = Leases(db)
        self.history = History(db)
        self.files = Files(db)
        self.vector_stores = VectorStores(db)
        self.store_files = StoreFiles(db)
        self.file_batches = FileBatches(db)
        self.ingestion = Ingestion(db)
        self.search = Search(db)
        self.code_sessions = CodeSessionPlaces(db)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Clock = system_clock,
        pool_size: int = 5,
        max_overflow: int = 10,
        pool_timeout: float = 10.0,
        busy_timeout_ms: int = 5000,
        lease_ttl: float = 60.0,
        migrate: bool = False,
    ) -> Store:
        """Connect to `DATABASE_URL` (`sqlite:///PATH` or `postgresql://…`); `migrate` upgrades to head first.

        Nothing connects until the first call (or the migration). Runs created get a lease of `lease_ttl` s
        that an executor must claim before it lapses.
        """
        db = open_db(
            url,
            clock,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            busy_timeout_ms=busy_timeout_ms,
        )
        if migrate:
            try:
                await upgrade(db)
            except BaseException:
                await db.close()
                raise
        return cls(db, lease_ttl=lease_ttl)

    async def at_head(self) -> bool:
        """Whether the database's schema is the one this code expects (migrations applied)."""
        try:
            return await revision(self.db) == head()
        except StoreUnavailable:
            return False

    def batch(self) -> Batch:
        """An empty `Batch`: the engine's lifecycle writes of one read, made in one transaction."""
        return Batch(self.db)

    async def ping(self) -> bool:
        """Whether the database answers (a readiness probe)."""
        try:
            return bool(await self.db.read(lambda conn: conn.scalar(text("SELECT 1"))) == 1)
        except StoreUnavailable:
            return False

    async def close(self) -> None:
        await self.db.close()
