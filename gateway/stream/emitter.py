"""The OpenAI side of one run stream: which `thread.*` events go out, in which order, and their payloads.

Sans-IO, in the spirit of h11's `_state.py`: every rule the SDKs rely on (docs/openai-stream.md, "Ordering
rules the SDKs rely on") lives here, and a backend only says what happened (a run status, a step or message
opening, content, the end). No clock or randomness of its own: ids and time come in through `NewId` and
`Clock`.

- `thread.run.created` / `queued` (only `queued` when a run resumes after tool outputs) first, then
  `in_progress` before any step;
- one open step and one open message at a time: opening one closes the previous (`completed`);
- every assistant message sits inside a `message_creation` step (opened for it when needed);
- `requires_action` lists the function calls awaiting outputs, and each of them was streamed as a
  tool-step delta first (a tool step is opened for calls that were not);
- exactly one terminal run event (a `STREAM_END` status), after which `close`, `fail` and `finish` do
  nothing; `finish()` and `fail()` close whatever is open so the stream always ends properly.

Which run statuses may follow which is one table, `RUN_TRANSITIONS`; a call it does not allow raises
`EmitterError` (the backend driving the emitter has a bug).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from types import MappingProxyType
from typing import Any, Final

from gateway.schemas.status import (
    RUN_END_REASON,
    RUN_END_STEP,
    RUN_STAMP,
    STREAM_END,
    MessageStatus,
    RunStatus,
    StepStatus,
)
from gateway.stream.events import Clock, Event, NewId, StreamEvent
from gateway.stream.message import Annotate, MessageStream
from gateway.stream.step import StepStream
from gateway.stream.text import TextMode

_QUEUED, _IN_PROGRESS, _CANCELLING = RunStatus.QUEUED, RunStatus.IN_PROGRESS, RunStatus.CANCELLING
_ACTION, _COMPLETED, _INCOMPLETE = RunStatus.REQUIRES_ACTION, RunStatus.COMPLETED, RunStatus.INCOMPLETE
_FAILED, _CANCELLED, _EXPIRED = RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.EXPIRED

RUN_TRANSITIONS: Final[Mapping[RunStatus | None, Mapping[str, RunStatus]]] = MappingProxyType(
    {
        None: {_QUEUED: _QUEUED},
        _QUEUED: {
            _QUEUED: _QUEUED,
            _IN_PROGRESS: _IN_PROGRESS,
            _CANCELLING: _CANCELLING,
            _FAILED: _FAILED,
            _CANCELLED: _CANCELLED,
            _EXPIRED: _EXPIRED,
        },
        _IN_PROGRESS: {
            _QUEUED: _IN_PROGRESS,
            _IN_PROGRESS: _IN_PROGRESS,
            _CANCELLING: _CANCELLING,
            _ACTION: _ACTION,
            _COMPLETED: _COMPLETED,
            _INCOMPLETE: _INCOMPLETE,
            _FAILED: _FAILED,
            _CANCELLED: _CANCELLED,
            _EXPIRED: _EXPIRED,
        },
        _CANCELLING: {
            _QUEUED: _CANCELLING,
            _IN_PROGRESS: _IN_PROGRESS,
            _CANCELLING: _CANCELLING,
            _FAILED: _FAILED,
            _CANCELLED: _CANCELLED,
            _EXPIRED: _EXPIRED,
        },
    }
)
"""The run side of a stream as a state machine: (state, status asked for) -> next state, where the state
is the last run status sent (None before `thread.run.created`). A status that leads to the state it is
asked in sends nothing: each status is sent once, and `queued` is never returned to. The stream's end
(a `STREAM_END` status) has no row: nothing follows it. `completed`, `requires_action` and `incomplete`
follow `in_progress` only, so `close` sends `in_progress` first when the run was not in it. Anything
else is an `EmitterError`."""
_NOWHERE: Final[Mapping[str, RunStatus]] = MappingProxyType({})

RUN_DEFAULTS: Final[dict[str, Any]] = {
    "id": "",
    "object": "thread.run",
    "created_at": 0,
    "assistant_id": "",
    "thread_id": "",
    "status": RunStatus.QUEUED,
    "started_at": None,
    "expires_at": None,
    "cancelled_at": None,
    "failed_at": None,
    "completed_at": None,
    "required_action": None,
    "last_error": None,
    "model": "",
    "instructions": "",
    "tools": [],
    "metadata": {},
    "incomplete_details": None,
    "usage": None,
    "temperature": None,
    "top_p": None,
    "max_prompt_tokens": None,
    "max_completion_tokens": None,
    "truncation_strategy": {"type": "auto", "last_messages": None},
    "response_format": "auto",
    "tool_choice": "auto",
    "parallel_tool_calls": True,
}
"""An OpenAI run object's fields, with the values a run has before anything is known."""

STEP_DEFAULTS: Final[dict[str, Any]] = {
    "id": "",
    "object": "thread.run.step",
    "created_at": 0,
    "run_id": "",
    "assistant_id": "",
    "thread_id": "",
    "type": "message_creation",
    "status": StepStatus.IN_PROGRESS,
    "cancelled_at": None,
    "completed_at": None,
    "expired_at": None,
    "failed_at": None,
    "last_error": None,
    "step_details": {"type": "message_creation", "message_creation": {"message_id": ""}},
    "usage": None,
    "metadata": {},
}

_NONE: frozenset[str] = frozenset()


class EmitterError(RuntimeError):
    """A call the emitter's state does not allow (see `RUN_TRANSITIONS`): the backend driving it has a bug."""


def _same(annotation: dict[str, Any]) -> dict[str, Any]:
    return annotation


class RunEmitter:
    """The state of one run stream's OpenAI side; each method appends the events it causes to the
    list it is given (or returns them) and never sends anything itself."""

    __slots__ = (
        "_annotate",
        "_clock",
        "_closed",
        "_mode",
        "message",
        "new_id",
        "resumed",
        "run",
        "run_status",
        "step",
        "terminal",
    )

    def __init__(
        self,
        run: dict[str, Any],
        *,
        new_id: NewId,
        clock: Clock,
        text_mode: TextMode = TextMode.INCREMENTAL,
        resumed: bool = False,
        annotate: Annotate = _same,
    ) -> None:
        """`run`: OpenAI run fields known so far (the rest take `RUN_DEFAULTS`), kept sparse: an
        open stream holds only what differs. `resumed`: the run existed before this stream (tool
        outputs were just submitted); it starts at `thread.run.queued`, as OpenAI's did.
        `text_mode`: whether content and tool-call values are pieces or running totals."""
        self.run = run
        self.new_id = new_id
        self._clock = clock
        self._mode = text_mode
        self._annotate = annotate
        self.resumed = resumed
        self.run_status: RunStatus | None = None  # last run status event sent; None before `created`
        self.terminal = False  # the terminal run event was sent
        self.step: StepStream | None = None  # the open step
        self.message: MessageStream | None = None  # the open assistant message
        self._closed: AbstractSet[str] = _NONE  # ids of closed steps and messages (ours and the backend's)

    def closed(self, item_id: str | None) -> bool:
        """Whether a step or message of that id (or backend id) was closed in this stream."""
        return item_id in self._closed

    def _mark_closed(self, *ids: str | None) -> None:
        """Remember closed ids; the set is made on the first close (an idle stream holds none)."""
        closed = self._closed if isinstance(self._closed, set) else set(self._closed)
        closed.update(i for i in ids if i)
        self._closed = closed

    # -- run -------------------------------------------------------------------------------------

    def _next(self, status: str) -> RunStatus:
        """The state `status` leads to from the current one (`RUN_TRANSITIONS`), or an `EmitterError`."""
        following = RUN_TRANSITIONS.get(self.run_status, _NOWHERE).get(status)
        if following is None:
            state = "the start" if self.run_status is None else repr(str(self.run_status))
            raise EmitterError(f"a run stream cannot go from {state} to {str(status)!r}")
        return following

    def snapshot(self, **changes: Any) -> dict[str, Any]:
        """The run as an OpenAI object, with `changes` on top."""
        return {**RUN_DEFAULTS, **self.run, **changes}

    def start(self, events: list[StreamEvent]) -> None:
        """`thread.run.created` + `queued` (once, before anything else)."""
        if self.run_status is not None:
            return
        run = self.run
        run["id"] = run.get("id") or self.new_id("run_")
        run["created_at"] = run.get("created_at") or self._clock()
        queued = self.run_status = self._next(RunStatus.QUEUED)
        snap = self.snapshot(status=queued)
        if not self.resumed:
            events.append(Event("thread.run.created", snap))
        events.append(Event("thread.run.queued", snap))

    def advance(self, status: str, events: list[StreamEvent]) -> None:
        """Send a status change that keeps the stream open, as `RUN_TRANSITIONS` says (once; `queued`
        is never returned to). A status that ends the stream is `close`'s (an `EmitterError` here)."""
        self.start(events)
        if status in STREAM_END:
            raise EmitterError(f"{str(status)!r} ends the stream: close() sends it")
        following = self._next(status)
        if following != self.run_status:
            self.run_status = following
            if following is RunStatus.IN_PROGRESS and not self.run.get("started_at"):
                self.run["started_at"] = self._clock()
            events.append(Event(f"thread.run.{following}", self.snapshot(status=following)))

    def close(
        self,
        status: str,
        events: list[StreamEvent],
        last_error: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """End the run with `status` (one of `STREAM_END`): settle the open message and step, then the
        one terminal run event (`fields` go on it: usage, incomplete_details, ...). What the open
        message and step become follows from `status` (`RUN_END_REASON`, `RUN_END_STEP`)."""
        if self.terminal:
            return
        if status not in STREAM_END:
            raise EmitterError(f"{str(status)!r} does not end the stream: advance() sends it")
        self.start(events)
        now = self._clock()
        if status not in RUN_TRANSITIONS.get(self.run_status, _NOWHERE):  # follows in_progress only
            self.advance(RunStatus.IN_PROGRESS, events)
        ending = self._next(status)
        reason = RUN_END_REASON.get(ending)
        self.close_message(
            events, MessageStatus.COMPLETED if reason is None else MessageStatus.INCOMPLETE, reason
        )
        extra: dict[str, Any] = {"status": ending, **fields}
        if ending is RunStatus.REQUIRES_ACTION:
            extra["required_action"] = self._required_action(events)
            if self.step is not None and self.step.type == "message_creation":
                self.close_step(events, StepStatus.COMPLETED)
        elif self.step is not None:
            self.close_step(events, RUN_END_STEP[ending], last_error)
        stamp = RUN_STAMP.get(ending)
        if stamp and not self.run.get(stamp):
            extra[stamp] = now
        if last_error is not None:
            extra["last_error"] = last_error
        self.run_status = ending
        self.terminal = True
        events.append(Event(f"thread.run.{ending}", self.snapshot(**extra)))

    def fail(self, code: str, message: str) -> list[StreamEvent]:
        """End the run as `failed` with `last_error` (a backend error, a broken upstream, a timeout)."""
        events: list[StreamEvent] = []
        self.close(RunStatus.FAILED, events, last_error={"code": code, "message": message})
        return events

    def finish(
        self, nothing_sent: str = "The upstream ended the stream without sending anything"
    ) -> list[StreamEvent]:
        """The backend ended cleanly: `completed`, unless it never said anything (then `failed`)."""
        if self.terminal:
            return []
        if self.run_status is None:
            return self.fail("server_error", nothing_sent)
        events: list[StreamEvent] = []
        self.close(RunStatus.COMPLETED, events)
        return events

    def _required_action(self, events: list[StreamEvent]) -> dict[str, Any]:
        """The calls awaiting outputs (the run's `required_action`, else the tool step's function
        calls); each is streamed in a tool step first (opened for them if needed)."""
        listed = self.run.get("required_action")
        calls = listed["submit_tool_outputs"]["tool_calls"] if listed else []
        step = self.step
        streamed = step.call_ids() if step is not None and step.type == "tool_calls" else set()
        missing = [c for c in calls if c["id"] not in streamed]
        if missing:
            if not streamed:
                step = self.open_step(self.new_id("step_"), "tool_calls", events)
            assert step is not None
            shaped = [
                (c["id"], {"id": c["id"], "type": "function", "function": {**c["function"], "output": None}})
                for c in missing
            ]
            events.extend(step.apply_calls(shaped))
        if not calls and step is not None and step.type == "tool_calls":
            calls = step.function_calls()
        return {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}

    # -- steps -----------------------------------------------------------------------------------

    def open_step(
        self,
        step_id: str,
        type_: str,
        events: list[StreamEvent],
        message_id: str | None = None,
        base: dict[str, Any] | None = None,
        upstream_id: str | None = None,
    ) -> StepStream:
        """Close the open message and step, then open a step (`base`: OpenAI step fields a backend
        already has for it)."""
        self.advance(RunStatus.IN_PROGRESS, events)
        self.close_message(events, MessageStatus.COMPLETED)
        if self.step is not None:
            self.close_step(events, StepStatus.COMPLETED)
        run = self.run
        snap = {**STEP_DEFAULTS, **(base or {})}
        snap.update(
            id=step_id,
            run_id=run["id"],
            thread_id=run.get("thread_id", ""),
            assistant_id=snap["assistant_id"] or run.get("assistant_id", ""),
            created_at=snap["created_at"] or self._clock(),
            type=type_,
            status=StepStatus.IN_PROGRESS,
        )
        if type_ == "message_creation":
            snap["step_details"] = {
                "type": "message_creation",
                "message_creation": {"message_id": message_id or ""},
            }
        self.step = StepStream(snap, self._mode, upstream_id=upstream_id)
        events.extend(self.step.opening_events())
        return self.step

    def close_step(
        self, events: list[StreamEvent], status: str, last_error: dict[str, Any] | None = None
    ) -> None:
        step = self.step
        if step is None:
            return
        if step.message_id is not None and self.message is not None and self.message.id == step.message_id:
            self.close_message(
                events,
                MessageStatus.COMPLETED if status == StepStatus.COMPLETED else MessageStatus.INCOMPLETE,
                "run_failed" if status == StepStatus.FAILED else None,
            )
        self.step = None
        self._mark_closed(step.id, step.upstream_id)
        events.extend(step.closing_events(status, self._clock(), last_error))

    def close_old_step(self, step: dict[str, Any], events: list[StreamEvent]) -> None:
        """A step from before this stream (the tool step outputs were submitted for) ended: its
        terminal event alone, as OpenAI sends it on a resumed run."""
        self.close_message(events, MessageStatus.COMPLETED)
        if self.step is not None:
            self.close_step(events, StepStatus.COMPLETED)
        self._mark_closed(step["id"])
        events.append(Event(f"thread.run.step.{step['status']}", step))

    # -- messages --------------------------------------------------------------------------------

    def open_message(
        self,
        message_id: str,
        events: list[StreamEvent],
        *,
        created_at: int | None = None,
        assistant_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> MessageStream:
        """Close the open message, then open one inside a `message_creation` step (the open one if
        it is for this message or none yet, else a new one)."""
        self.advance(RunStatus.IN_PROGRESS, events)
        self.close_message(events, MessageStatus.COMPLETED)
        step = self.step
        fits = (
            step is not None
            and step.type == "message_creation"
            and step.message_id in (None, message_id)
            and step.message_id not in self._closed
        )
        if not fits:
            step = self.open_step(self.new_id("step_"), "message_creation", events, message_id)
        assert step is not None
        step.message_id = message_id
        run = self.run
        snapshot = {
            "id": message_id,
            "object": "thread.message",
            "created_at": created_at or self._clock(),
            "thread_id": run.get("thread_id", ""),
            "role": "assistant",
            "content": [],
            "assistant_id": assistant_id or run.get("assistant_id") or None,
            "run_id": run["id"],
            "attachments": [],
            "status": MessageStatus.IN_PROGRESS,
            "completed_at": None,
            "incomplete_at": None,
            "incomplete_details": None,
            "metadata": metadata or {},
        }
        self.message = MessageStream(snapshot, self._mode, self._annotate)
        events.extend(self.message.opening_events())
        return self.message

    def close_message(self, events: list[StreamEvent], status: str, reason: str | None = None) -> None:
        if self.message is None:
            return
        message, self.message = self.message, None
        self._mark_closed(message.id)
        events.extend(message.closing_events(status, self._clock(), reason))
