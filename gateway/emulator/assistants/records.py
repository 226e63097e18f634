"""In-memory object store: assistants, threads, messages, runs and steps; lookups and list pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from gateway.emulator.assistants.shapes import Assistant, Message, Run, RunStep, Thread
from gateway.emulator.status_codes import ApiError, invalid


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


def _missing(kind: str, id_: str) -> ApiError:
    return invalid(f"{kind} not found: {id_}")


class Store:
    """All objects of one emulator app, in creation order. Single event loop: no locks needed."""

    def __init__(self) -> None:
        self.assistants: dict[str, Assistant] = {}
        self.threads: dict[str, Thread] = {}
        self._messages: dict[str, dict[str, Message]] = {}  # by thread id
        self._runs: dict[str, dict[str, Run]] = {}  # by thread id
        self._steps: dict[str, dict[str, RunStep]] = {}  # by run id

    # assistants
    def add_assistant(self, assistant: Assistant) -> None:
        self.assistants[assistant.id] = assistant

    def get_assistant(self, assistant_id: str) -> Assistant:
        try:
            return self.assistants[assistant_id]
        except KeyError:
            raise _missing("assistant", assistant_id) from None

    def delete_assistant(self, assistant_id: str) -> None:
        self.get_assistant(assistant_id)
        del self.assistants[assistant_id]

    # threads
    def add_thread(self, thread: Thread) -> None:
        self.threads[thread.id] = thread
        self._messages[thread.id] = {}
        self._runs[thread.id] = {}

    def get_thread(self, thread_id: str) -> Thread:
        try:
            return self.threads[thread_id]
        except KeyError:
            raise _missing("thread", thread_id) from None

    # messages
    def add_message(self, message: Message) -> None:
        self._messages[message.thread_id][message.id] = message

    def messages(self, thread_id: str) -> list[Message]:
        self.get_thread(thread_id)
        return list(self._messages[thread_id].values())

    def get_message(self, thread_id: str, message_id: str) -> Message:
        self.get_thread(thread_id)
        try:
            return self._messages[thread_id][message_id]
        except KeyError:
            raise _missing("message", message_id) from None

    def latest_user_message(self, thread_id: str) -> Message | None:
        users = [m for m in self._messages.get(thread_id, {}).values() if m.role == "user"]
        return users[-1] if users else None

    # runs
    def add_run(self, run: Run) -> None:
        self._runs[run.thread_id][run.id] = run
        self._steps[run.id] = {}

    def runs(self, thread_id: str) -> list[Run]:
        self.get_thread(thread_id)
        return list(self._runs[thread_id].values())

    def get_run(self, thread_id: str, run_id: str) -> Run:
        self.get_thread(thread_id)
        try:
            return self._runs[thread_id][run_id]
        except KeyError:
            raise _missing("run", run_id) from None

    def active_run(self, thread_id: str) -> Run | None:
        return next((r for r in self._runs.get(thread_id, {}).values() if r.active), None)

    # steps
    def add_step(self, step: RunStep) -> None:
        self._steps[step.run_id][step.id] = step

    def steps(self, run_id: str) -> list[RunStep]:
        return list(self._steps.get(run_id, {}).values())

    def get_step(self, thread_id: str, run_id: str, step_id: str) -> RunStep:
        self.get_run(thread_id, run_id)
        try:
            return self._steps[run_id][step_id]
        except KeyError:
            raise _missing("run step", step_id) from None


def paginate(
    items: Sequence[T], *, limit: int, order: str, after: str | None, before: str | None
) -> tuple[list[T], bool]:
    """A page of `items` (oldest first) in `order` after/before cursor ids, and whether more remain."""
    ordered = list(items) if order == "asc" else list(reversed(items))
    ids = [item.id for item in ordered]
    for name, cursor in (("after", after), ("before", before)):
        if cursor is not None and cursor not in ids:
            raise invalid(f"{name} cursor not found: {cursor}")
    if after is not None:
        ordered = ordered[ids.index(after) + 1 :]
    if before is not None:
        remaining = [item.id for item in ordered]
        ordered = ordered[: remaining.index(before)] if before in remaining else []
        if after is None:
            return ordered[-limit:], len(ordered) > limit
    return ordered[:limit], len(ordered) > limit
