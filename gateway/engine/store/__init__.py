"""The engine's store: Assistants objects in SQLite or PostgreSQL (SQLAlchemy Core, async; Alembic).

Open it with `await Store.open(DATABASE_URL, migrate=...)`; every method returns OpenAI-shaped dicts and
raises only the `StoreError` tree (see `errors`).
"""

from __future__ import annotations

from gateway.engine.store.assistants import AssistantChanges
from gateway.engine.store.batch import Batch, write_together
from gateway.engine.store.db import Db, open_db
from gateway.engine.store.errors import (
    InvalidCursor,
    InvalidPage,
    NotFound,
    RunStateConflict,
    StoreError,
    StoreUnavailable,
    ThreadBusy,
    ToolOutputsMismatch,
)
from gateway.engine.store.history import HistoryItem
from gateway.engine.store.ids import Clock, new_id
from gateway.engine.store.migrate import current_revision, migrate
from gateway.engine.store.rows import NewMessage, Replay
from gateway.engine.store.store import Store
from gateway.engine.store.tables import ACTIVE_RUN_STATUSES, metadata
from gateway.engine.store.threads import ThreadChanges
from gateway.engine.store.tool_outputs import ToolOutput
from gateway.engine.store.url import driver_url
from gateway.schemas.status import RunStatus, StepEnd

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "AssistantChanges",
    "Batch",
    "Clock",
    "Db",
    "HistoryItem",
    "InvalidCursor",
    "InvalidPage",
    "NewMessage",
    "NotFound",
    "Replay",
    "RunStateConflict",
    "RunStatus",
    "StepEnd",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "ThreadBusy",
    "ThreadChanges",
    "ToolOutput",
    "ToolOutputsMismatch",
    "current_revision",
    "driver_url",
    "metadata",
    "migrate",
    "new_id",
    "open_db",
    "write_together",
]
