"""The store's exceptions; the engine maps them to HTTP errors once, at its boundary.

StoreError
├── NotFound(kind, id)              no such object for this tenant
├── ThreadBusy(thread_id, run_id)   the thread has an active run
├── InvalidPage(message, param)     a bad `limit` / `order`
│   └── InvalidCursor(param, id)    `after` / `before` names no object of this list
├── RunStateConflict(run_id, status) the run is not in a status that allows the operation
├── ToolOutputsMismatch             tool outputs are not exactly the required calls, once each
└── StoreUnavailable                the database cannot be reached, or the pool timed out
"""

from __future__ import annotations

from collections.abc import Sequence


class StoreError(Exception):
    pass


class NotFound(StoreError):
    param: str | None = None

    def __init__(self, kind: str, id: str) -> None:
        if kind == "file":  # OpenAI's Files API words it its own way, naming the parameter
            super().__init__(f"No such File object: {id}")
            self.param = "id"
        else:
            super().__init__(f"No {kind} found with id '{id}'.")
        self.kind = kind
        self.id = id


class ThreadBusy(StoreError):
    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(f"Thread {thread_id} already has an active run {run_id}.")
        self.thread_id = thread_id
        self.run_id = run_id


class InvalidPage(StoreError):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


class InvalidCursor(InvalidPage):
    def __init__(self, param: str, id: str) -> None:
        super().__init__(f"Invalid '{param}': no object with id '{id}' in this list.", param)
        self.id = id


class RunStateConflict(StoreError):
    def __init__(self, run_id: str, status: str, message: str | None = None) -> None:
        super().__init__(message or f"Run {run_id} is {status}; the operation is not allowed in that status.")
        self.run_id = run_id
        self.status = status


class ToolOutputsMismatch(StoreError):
    def __init__(
        self, *, missing: Sequence[str] = (), unknown: Sequence[str] = (), duplicate: Sequence[str] = ()
    ) -> None:
        parts = [
            f"{label}: {', '.join(ids)}"
            for label, ids in (("missing", missing), ("unknown", unknown), ("duplicate", duplicate))
            if ids
        ]
        super().__init__(
            "Tool outputs must answer every required tool call exactly once (" + "; ".join(parts) + ")."
        )
        self.missing = list(missing)
        self.unknown = list(unknown)
        self.duplicate = list(duplicate)


class StoreUnavailable(StoreError):
    pass
