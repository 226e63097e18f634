"""Object ids (prefix + 32 lowercase hex; docs/minimax-wire.md, "Ids, timestamps and other
details") and Unix-second timestamps."""

from __future__ import annotations

import time
import uuid


def hex_id() -> str:
    """32 lowercase hex characters (a dashless uuid4)."""
    return uuid.uuid4().hex


def new_id(prefix: str) -> str:
    """`asst_…`, `thread_…`, `msg_…`, `run_…`, `step_…`, `call_…`."""
    return f"{prefix}_{hex_id()}"


def now() -> int:
    """Unix seconds; MiniMax uses 0 (never null) for unset timestamps."""
    return int(time.time())
