"""The status vocabulary of runs, run steps and messages: OpenAI's names and what each set of them means.

One module for the stream (`gateway.stream`) and the store (`gateway.engine.store`), which ask
different questions of the same names: "does the stream end here?" (`STREAM_END`) is not "is the run
over?" (`RUN_FINAL`): a run that `requires_action` ends its stream but waits for tool outputs.

The statuses are `StrEnum`s: each member is the `str` OpenAI uses (`RunStatus.COMPLETED == "completed"`,
`f"thread.run.{RunStatus.COMPLETED}"` is `"thread.run.completed"`, and json / orjson write `"completed"`),
so a status read from a row or a frame compares, hashes and looks up as its member does. Tables are keyed
by member and so take plain strings too. Where callers pass string literals to a typed parameter (mypy
does not take `"completed"` for `RunStatus.COMPLETED`), the `Literal` aliases below accept both forms.
No imports beyond the standard library: anything may import this.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal, TypeAlias, TypeVar


class RunStatus(StrEnum):
    """A run's `status` (OpenAI's `RunStatus`, in its order)."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    REQUIRES_ACTION = "requires_action"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FAILED = "failed"
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"
    EXPIRED = "expired"


class StepStatus(StrEnum):
    """A run step's `status` (OpenAI's `RunStep.status`, in its order)."""

    IN_PROGRESS = "in_progress"
    CANCELLED = "cancelled"
    FAILED = "failed"
    COMPLETED = "completed"
    EXPIRED = "expired"


class MessageStatus(StrEnum):
    """A message's `status` (OpenAI's `Message.status`, in its order)."""

    IN_PROGRESS = "in_progress"
    INCOMPLETE = "incomplete"
    COMPLETED = "completed"


# -- runs ------------------------------------------------------------------------------------------

RUN_FINAL: Final[frozenset[RunStatus]] = frozenset(
    {RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.COMPLETED, RunStatus.INCOMPLETE, RunStatus.EXPIRED}
)
"""Statuses that end a run: nothing changes it afterwards (`requires_action` is not one: the run goes on
once tool outputs are submitted)."""

STREAM_END: Final[frozenset[RunStatus]] = RUN_FINAL | {RunStatus.REQUIRES_ACTION}
"""Statuses that end a run's stream: its final statuses and `requires_action` (a stream that submits the
tool outputs follows the run from there)."""

RUN_ACTIVE: Final[frozenset[RunStatus]] = frozenset(
    {RunStatus.QUEUED, RunStatus.IN_PROGRESS, RunStatus.REQUIRES_ACTION, RunStatus.CANCELLING}
)
"""Statuses of a run that is not over (every status but the final ones): it holds its thread, which has
at most one such run (the store's `runs_one_active_per_thread` index)."""

RUN_LEASED: Final[frozenset[RunStatus]] = RUN_ACTIVE - {RunStatus.REQUIRES_ACTION}
"""Statuses of a run being executed: it belongs to whoever holds its lease (`requires_action` waits for
the client instead, and expires at its `expires_at`)."""

RUN_STAMP: Final[Mapping[str, str]] = MappingProxyType(
    {
        RunStatus.CANCELLED: "cancelled_at",
        RunStatus.FAILED: "failed_at",
        RunStatus.COMPLETED: "completed_at",
        RunStatus.EXPIRED: "expires_at",
    }
)
"""The timestamp field a run's final status sets (`incomplete` has none), once: a field that already holds
a time keeps it, so a run that expires keeps `expires_at`, the deadline it passed."""

RUN_END_STEP: Final[Mapping[str, StepEnd]] = MappingProxyType(
    {
        RunStatus.CANCELLED: StepStatus.CANCELLED,
        RunStatus.FAILED: StepStatus.FAILED,
        RunStatus.COMPLETED: StepStatus.COMPLETED,
        RunStatus.INCOMPLETE: StepStatus.FAILED,
        RunStatus.EXPIRED: StepStatus.EXPIRED,
    }
)
"""The status a run's final status gives a step still open when it ends."""

RUN_END_REASON: Final[Mapping[str, str]] = MappingProxyType(
    {
        RunStatus.CANCELLED: "run_cancelled",
        RunStatus.FAILED: "run_failed",
        RunStatus.INCOMPLETE: "max_tokens",
        RunStatus.EXPIRED: "run_expired",
    }
)
"""The `incomplete_details.reason` a run's end gives a message still open, which is then `incomplete`;
a message open when the run ends with a status not here (`completed`, `requires_action`) is completed."""

RunStatusLiteral: TypeAlias = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]
"""`RunStatus`'s values as string literals, for parameters typed `RunStatus | RunStatusLiteral`."""

# -- steps -----------------------------------------------------------------------------------------

STEP_FINAL: Final[frozenset[StepStatus]] = frozenset(
    {StepStatus.CANCELLED, StepStatus.FAILED, StepStatus.COMPLETED, StepStatus.EXPIRED}
)
"""Statuses that close a step (every status but `in_progress`)."""

STEP_STAMP: Final[Mapping[str, str]] = MappingProxyType(
    {
        StepStatus.CANCELLED: "cancelled_at",
        StepStatus.FAILED: "failed_at",
        StepStatus.COMPLETED: "completed_at",
        StepStatus.EXPIRED: "expired_at",
    }
)
"""The timestamp field each of a step's final statuses sets."""


StepEnd: TypeAlias = Literal[
    StepStatus.CANCELLED,
    StepStatus.FAILED,
    StepStatus.COMPLETED,
    StepStatus.EXPIRED,
    "cancelled",
    "failed",
    "completed",
    "expired",
]
"""A final step status (`STEP_FINAL`) as a type: a member, or its value as a string literal."""

# -- messages --------------------------------------------------------------------------------------

MESSAGE_FINAL: Final[frozenset[MessageStatus]] = frozenset(
    {MessageStatus.INCOMPLETE, MessageStatus.COMPLETED}
)
"""Statuses that close a message (every status but `in_progress`)."""

MESSAGE_STAMP: Final[Mapping[str, str]] = MappingProxyType(
    {MessageStatus.INCOMPLETE: "incomplete_at", MessageStatus.COMPLETED: "completed_at"}
)
"""The timestamp field each of a message's final statuses sets."""

MessageEnd: TypeAlias = Literal[MessageStatus.INCOMPLETE, MessageStatus.COMPLETED, "incomplete", "completed"]
"""A final message status (`MESSAGE_FINAL`) as a type: a member, or its value as a string literal."""

# -- order -----------------------------------------------------------------------------------------

_S = TypeVar("_S", RunStatus, StepStatus, MessageStatus)


def in_order(statuses: Set[_S]) -> tuple[_S, ...]:
    """`statuses` in their enum's order: what SQL is built from, so that a statement's text is the same
    in every process (a frozenset's order follows string hashing, which differs between processes)."""
    if not statuses:
        return ()
    kind = type(next(iter(statuses)))
    return tuple(s for s in kind if s in statuses)


# -- plain strings ---------------------------------------------------------------------------------

_PLAIN: Final[Mapping[type[StrEnum], Mapping[str, str]]] = MappingProxyType(
    {kind: {m.value: m.value for m in kind} for kind in (RunStatus, StepStatus, MessageStatus)}
)


def plain(kind: type[StrEnum], status: str) -> str:
    """`status` (a member of `kind` or its value) checked, as a plain `str`: `kind(status).value`, as the
    store binds it, at a lookup's cost instead of the enum machinery's (a run makes several)."""
    try:
        return _PLAIN[kind][status]
    except KeyError:
        raise ValueError(f"{status!r} is not a valid {kind.__name__}") from None
