"""A run's progression as a sequence of state changes, shared by streamed and background runs.

`Progression.start()` / `Progression.resume()` return synchronous generators. Each `next()` applies one
state change to the store and yields a `Change` describing it; the caller (create_stream.py or
runner.py) paces the calls and renders the change at once (changes reference live objects). Between
changes the progression checks whether the run was cancelled or failed from outside; if so it yields
that run and stops. The last change of every sequence is a `RunChanged` with a final status (`is_final`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.emulator.assistants import model
from gateway.emulator.assistants.records import Store
from gateway.emulator.assistants.shapes import FINAL_STATUSES, Message, Run, RunStep, TextContent
from gateway.emulator.ids import hex_id, new_id, now
from gateway.emulator.replies import tool_result_reply


@dataclass(frozen=True)
class RunChanged:
    run: Run


@dataclass(frozen=True)
class StepChanged:
    step: RunStep


@dataclass(frozen=True)
class UserMessage:
    """An input turn appended by this run (the stream's user echo)."""

    message: Message


@dataclass(frozen=True)
class TextDelta:
    message: Message
    piece: str
    so_far: str
    new_annotations: tuple[dict[str, Any], ...]  # annotations whose marker this piece completes
    annotations_so_far: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class MessageDone:
    message: Message


Change = RunChanged | StepChanged | UserMessage | TextDelta | MessageDone


def is_final(change: Change) -> bool:
    return isinstance(change, RunChanged) and change.run.status in FINAL_STATUSES


def cancel_run(store: Store, run: Run) -> None:
    """Mark `run` cancelled now; its in-progress steps too. A running progression stops at its next change."""
    t = now()
    run.status, run.cancelled_at, run.updated_at, run.pending_calls = "cancelled", t, t, None
    for step in store.steps(run.id):
        if step.status == "in_progress":
            step.status, step.cancelled_at = "cancelled", t


def fail_run(store: Store, run: Run, message: str) -> None:
    """Mark `run` failed with `last_error` {code: "server_error", message}; its in-progress steps too."""
    t = now()
    error = {"code": "server_error", "message": message}
    run.status, run.failed_at, run.updated_at, run.last_error, run.pending_calls = "failed", t, t, error, None
    for step in store.steps(run.id):
        if step.status == "in_progress":
            step.status, step.failed_at, step.last_error = "failed", t, dict(error)


def pending_tool_step(store: Store, run: Run) -> RunStep | None:
    """The in-progress `tool_calls` step holding the function calls `run` waits on."""
    steps = [s for s in store.steps(run.id) if s.type == "tool_calls" and s.status == "in_progress"]
    return steps[-1] if steps else None


def chunks(text: str, size: int) -> Iterator[tuple[int, str]]:
    """(start index, piece) of `size` characters (never bytes)."""
    for start in range(0, len(text), size):
        yield start, text[start : start + size]


class Progression:
    def __init__(self, store: Store, run: Run, *, chars_per_frame: int) -> None:
        self.store = store
        self.run = run
        self.chars_per_frame = chars_per_frame

    def start(self, inputs: Sequence[Message] = ()) -> Iterator[Change]:
        """From `queued` to `completed` or `requires_action`; `inputs` are this run's new user turns."""
        return self._guard(self._start(inputs))

    def resume(self) -> Iterator[Change]:
        """After tool outputs were recorded on the pending step: finish the step, reply, complete."""
        return self._guard(self._resume())

    def _guard(self, inner: Iterator[Change]) -> Iterator[Change]:
        for change in inner:
            yield change
            if is_final(change):
                return
            if not self.run.active:  # cancelled or failed from outside while we were paused
                yield RunChanged(self.run)
                return

    def _set_status(self, status: str) -> None:
        self.run.status = status
        self.run.updated_at = now()

    def _new_step(self, type_: str, details: dict[str, Any]) -> RunStep:
        run = self.run
        step = RunStep(new_id("step"), run.id, run.assistant_id, run.thread_id, type_, now(), details)
        self.store.add_step(step)
        return step

    @staticmethod
    def _complete(step: RunStep) -> None:
        step.status, step.completed_at = "completed", now()

    def _start(self, inputs: Sequence[Message]) -> Iterator[Change]:
        run = self.run
        yield RunChanged(run)
        self._set_status("in_progress")
        run.started_at = run.updated_at
        yield RunChanged(run)
        for message in inputs:
            yield UserMessage(message)
        latest = self.store.latest_user_message(run.thread_id)
        user_text = latest.text if latest is not None else ""
        decision = model.decide(user_text, run.tools)
        if isinstance(decision, model.FunctionCall):
            call_id = new_id("call")
            function = {"name": decision.name, "arguments": decision.arguments}
            call = {"id": call_id, "type": "function", "function": {**function, "output": ""}}
            yield StepChanged(self._new_step("tool_calls", {"type": "tool_calls", "tool_calls": [call]}))
            run.pending_calls = [{"id": call_id, "type": "function", "function": function}]
            self._set_status("requires_action")
            yield RunChanged(run)
            return
        if isinstance(decision, model.BuiltinCall):
            call = {"id": new_id("call"), "type": decision.type}
            call[decision.type] = model.builtin_payload(decision, done=False)
            step = self._new_step("tool_calls", {"type": "tool_calls", "tool_calls": [call]})
            yield StepChanged(step)
            call[decision.type] = model.builtin_payload(decision, done=True)
            self._complete(step)
            yield StepChanged(step)
        yield from self._reply(model.reply_for(decision, user_text))

    def _resume(self) -> Iterator[Change]:
        self._set_status("in_progress")
        yield RunChanged(self.run)
        step = pending_tool_step(self.store, self.run)
        texts: list[str] = []
        if step is not None:
            self._complete(step)
            texts = [
                tool_result_reply(c["function"]["name"], c["function"]["output"])
                for c in step.tool_calls
                if c.get("type") == "function"
            ]
            yield StepChanged(step)
        yield from self._reply(model.Reply(" ".join(texts) or tool_result_reply("tool", "")))

    def _reply(self, reply: model.Reply) -> Iterator[Change]:
        run = self.run
        t = now()
        message = Message(
            new_id("msg"), run.thread_id, "assistant", t, TextContent(hex_id()), run.assistant_id, run.id
        )
        message.updated_at = t
        self.store.add_message(message)
        step = self._new_step(
            "message_creation", {"type": "message_creation", "message_creation": {"message_id": message.id}}
        )
        yield StepChanged(step)
        content = message.content
        for start, piece in chunks(reply.text, self.chars_per_frame):
            end = start + len(piece)
            new = tuple(a for a in reply.annotations if start < a["end_index"] <= end)
            content.value += piece
            content.annotations.extend(new)
            message.updated_at = now()
            yield TextDelta(message, piece, content.value, new, tuple(content.annotations))
        yield MessageDone(message)
        self._complete(step)
        yield StepChanged(step)
        self._set_status("completed")
        run.completed_at = run.updated_at
        yield RunChanged(run)
