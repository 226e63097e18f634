"""MiniMax run / message / run-step frames in, the emitter driven: the bridge's side of a run stream.

What the frames mean is MiniMax's business and is read here; which OpenAI events follow, in which
order, is the emitter's (`gateway.stream.emitter`). Whatever MiniMax sends or omits:
- the run id comes from the first run frame, else a frame's `run_id`;
- a MiniMax step for the message the emitter opened a step for is folded into that step;
- a late frame for a step or message already closed (a final snapshot, a repeated step) is dropped;
- the echo of the input turn (`role: user`) is not assistant output;
- an error frame fails the run; a clean end without a terminal run frame completes it;
- a frame with a value of a JSON type MiniMax never sends there (an object for a call id, a number
  for a list) fails the run with `UnexpectedFrame`, as an unreadable frame does (it may have carried
  text). The values read are checked where they are read, by `_check_run`, `_check_calls`,
  `_step_to_openai`, `_annotation` and the message's content (`UnreadableData`); `UnreadableData`
  is the only error mapped to `UnexpectedFrame`, so any other exception is a bug of ours and is not
  reported as MiniMax's.
No IO, no clock, no randomness: ids and time come in through `NewId` and `Clock`.

`on_frame` reads the usual frame (more of the open message) itself and hands every other frame to
`on_frame_general`, the general path; the fast-path tests compare the two.
"""

from __future__ import annotations

from typing import Any

from gateway.bridge.frames import Frame, MessageData, ThreadMessageData
from gateway.bridge.shapes import (
    annotation_to_openai,
    run_fields_to_openai,
    run_status,
    step_status,
    step_to_openai,
    tool_call_to_openai,
)
from gateway.errors import UpstreamError
from gateway.schemas.status import STREAM_END
from gateway.stream.emitter import RunEmitter
from gateway.stream.events import Clock, NewId, StreamEvent
from gateway.stream.message import UnreadableData
from gateway.stream.text import TextMode
from gateway.upstream.errors import last_error_code

Message = dict[str, Any] | MessageData
NOTHING_SENT = "MiniMax ended the stream without sending anything"


class UnexpectedFrame(UpstreamError):
    """A MiniMax frame whose fields are of JSON types it never sends."""

    def __init__(self, kind: str, exc: UnreadableData) -> None:
        super().__init__(f"MiniMax sent a {kind} frame of an unexpected shape ({exc})")


def _text(value: Any) -> str:
    """An id or name as MiniMax should send it; any other JSON type is no id at all."""
    return value if isinstance(value, str) else ""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _scalar(value: Any) -> bool:
    """A JSON value that can key a dict (anything but a list or an object)."""
    return type(value) is not list and type(value) is not dict


def _iterable(value: Any) -> bool:
    """A JSON value the shapes may iterate (`value or ()`): falsy, a list, a string or an object."""
    return not value or type(value) is list or type(value) is str or type(value) is dict


_STREAMED = frozenset({"function", "code_interpreter", "web_search"})  # calls whose arguments are text


def _check_calls(raw: Any, *, keyed: bool) -> None:
    """MiniMax tool calls as `tool_call_to_openai` and the step read them (`keyed`: by id or position)."""
    if not _iterable(raw):
        raise UnreadableData("tool_calls is not a list")
    for call in raw or ():
        if not isinstance(call, dict):
            continue
        if keyed and not _scalar(call.get("id")):
            raise UnreadableData("a tool call id is a list or an object")
        kind = call.get("type")
        body = call.get(kind) if isinstance(kind, str) else None
        if not isinstance(body, dict):
            continue
        streamed = body.get("input" if kind == "code_interpreter" else "arguments")
        if streamed and type(streamed) is not str and kind in _STREAMED:
            raise UnreadableData(f"a {kind} tool call's arguments are not a string")
        if kind == "code_interpreter" and not _iterable(body.get("outputs")):
            raise UnreadableData("a code_interpreter tool call's outputs are not a list")


def _check_run(data: dict[str, Any]) -> None:
    """The fields of a run frame that `run_fields_to_openai` and the emitter read beyond their type
    checks: the tool calls `required_action` lists."""
    action = data.get("required_action")
    if not isinstance(action, dict) or action.get("type") != "submit_tool_outputs":
        return
    outputs = action.get("submit_tool_outputs") or {}
    if type(outputs) is not dict:
        raise UnreadableData("required_action.submit_tool_outputs is not an object")
    calls = outputs.get("tool_calls")
    if not _iterable(calls):
        raise UnreadableData("required_action tool_calls is not a list")
    for call in calls or ():
        if isinstance(call, dict):
            function = call.get("function") or {}
            if type(function) is not dict or not _scalar(call.get("id", "")):
                raise UnreadableData("a required_action tool call is not of MiniMax's shape")
            arguments = function.get("arguments")
            if arguments and type(arguments) is not str:
                raise UnreadableData("a required_action tool call's arguments are not a string")


def _step_to_openai(data: dict[str, Any]) -> dict[str, Any]:
    """`step_to_openai`, for a step whose `step_details` are of the types it reads."""
    details = data.get("step_details")
    if isinstance(details, dict):
        if data.get("type") == "tool_calls":
            _check_calls(details.get("tool_calls"), keyed=False)
        elif type(details.get("message_creation") or {}) is not dict:
            raise UnreadableData("step_details.message_creation is not an object")
    return step_to_openai(data)


def _annotation(ann: dict[str, Any]) -> dict[str, Any]:
    """`annotation_to_openai`, for an annotation whose nested objects are objects."""
    if ann.get("type") == "file_path":
        nested = ann.get("file_path")
    else:
        nested = ann.get("file_citation") or ann.get("web_citation")
    if nested and type(nested) is not dict:
        raise UnreadableData("an annotation's file_path or citation is not an object")
    return annotation_to_openai(ann)


def _calls(raw: Any) -> list[tuple[Any, dict[str, Any]]]:
    """MiniMax tool calls as the emitter takes them: keyed by id, else position; OpenAI-shaped."""
    return [
        (call.get("id") or position, tool_call_to_openai(call))
        for position, call in enumerate(raw or ())
        if isinstance(call, dict)
    ]


class RunStreamTranslator:
    """`on_frame(frame) -> events`; `fail(...)` / `finish()` close the stream. See the module doc."""

    __slots__ = ("_old_steps", "emitter", "error_code")

    def __init__(
        self,
        run: dict[str, Any],
        *,
        new_id: NewId,
        clock: Clock,
        text_mode: TextMode = TextMode.AUTO,
        resume_after: frozenset[str] | None = None,
    ) -> None:
        """`run`: the MiniMax-shaped run as far as the request knows it (thread, assistant, model,
        instructions, tools, metadata); frames update it. `resume_after`: the run already existed
        (tool outputs were just submitted) and had these steps; an old step only gets its
        terminal event."""
        self.emitter = RunEmitter(
            run_fields_to_openai(run),
            new_id=new_id,
            clock=clock,
            text_mode=text_mode,
            resumed=resume_after is not None,
            annotate=_annotation,
        )
        self._old_steps = resume_after or frozenset()  # steps from before this stream
        self.error_code: object = None  # the code of the error frame that ended the stream, if one did

    @property
    def terminal(self) -> bool:
        return self.emitter.terminal

    def on_frame(self, frame: Frame) -> list[StreamEvent]:
        """Events for one frame. A frame whose fields have JSON types MiniMax never sends (a list
        for a status, an object for an id) is an upstream error, as an unreadable frame is: it may
        have carried text, so the run fails (cleanly, no traceback) rather than go on without it."""
        emitter = self.emitter
        if emitter.terminal:
            return []
        kind, data = frame
        message = emitter.message
        if kind == "message" and message is not None and emitter.run_status == "in_progress":
            # The hot path (most frames): more of the open message. Same as `on_frame_general`
            # (`_on_message`), inlined (measured: see README's benchmark notes), with plain
            # attribute reads when the frame came through the typed decoder.
            if type(data) is MessageData or type(data) is ThreadMessageData:
                message_id, role, content, status = data.id, data.role, data.content, data.status
            else:
                message_id, role = data.get("id"), data.get("role")
                content, status = data.get("content"), data.get("status")
            if (not message_id or message_id == message.id) and role != "user":
                try:
                    out = message.apply(content)
                except UnreadableData as exc:
                    raise UnexpectedFrame(kind, exc) from None
                if status == "completed":
                    emitter.close_message(out, "completed")
                return out
        return self.on_frame_general(frame)

    def on_frame_general(self, frame: Frame) -> list[StreamEvent]:
        """The general path: `on_frame` without its hot path, every kind of frame. `on_frame` takes
        it for every frame the hot path leaves; the fast-path tests and bench translate whole
        streams through it to compare."""
        emitter = self.emitter
        if emitter.terminal:
            return []
        kind, data = frame
        events: list[StreamEvent] = []
        try:
            if isinstance(data, dict) and kind != "message":  # run, step and error frames are dicts
                if kind == "error":
                    code = self.error_code = data.get("code", 0)
                    return self.fail(
                        last_error_code(code) if isinstance(code, int) else "server_error",
                        f"MiniMax error {code}: {data.get('message', '')}",
                    )
                if kind == "run":
                    _check_run(data)
                self._start(data, run_frame=kind == "run", events=events)
                if kind == "run":
                    self._on_run(data, events)
                else:
                    self._on_step(data, events)
                return events
            self._start(data, run_frame=False, events=events)
            self._on_message(data, events)
        except UnreadableData as exc:
            raise UnexpectedFrame(kind, exc) from None
        return events

    def fail(self, code: str, message: str) -> list[StreamEvent]:
        return self.emitter.fail(code, message)

    def finish(self) -> list[StreamEvent]:
        return self.emitter.finish(NOTHING_SENT)

    def _start(self, data: Message, *, run_frame: bool, events: list[StreamEvent]) -> None:
        emitter = self.emitter
        if emitter.run_status is not None:
            return
        if run_frame:
            assert isinstance(data, dict)
            emitter.run.update(run_fields_to_openai(data))
        elif run_id := data.get("run_id"):
            emitter.run["id"] = run_id
        emitter.start(events)

    def _on_run(self, data: dict[str, Any], events: list[StreamEvent]) -> None:
        emitter = self.emitter
        emitter.run.update(run_fields_to_openai(data))
        status = run_status(data)
        if status in STREAM_END:
            emitter.close(status, events)
        else:
            emitter.advance(status, events)

    def _on_step(self, data: dict[str, Any], events: list[StreamEvent]) -> None:
        emitter = self.emitter
        emitter.advance("in_progress", events)
        upstream_id = _text(data.get("id"))
        if emitter.closed(upstream_id):
            return  # a late frame for a step already closed
        if upstream_id in self._old_steps:
            self._on_old_step(data, events)
            return
        type_ = "tool_calls" if data.get("type") == "tool_calls" else "message_creation"
        raw_details = data.get("step_details")
        details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
        if type_ == "tool_calls":  # (checked before a step opens: a step that fails is one announced)
            _check_calls(details.get("tool_calls"), keyed=True)
        message_id = _text(_obj(details.get("message_creation")).get("message_id")) or None
        step = emitter.step
        if step is None or upstream_id not in (step.upstream_id, step.id):
            if (
                step is not None
                and type_ == "message_creation" == step.type
                and step.upstream_id is None
                and message_id in (None, step.message_id)
            ):
                step.upstream_id = upstream_id  # MiniMax's step for the message we opened one for
            else:
                step = emitter.open_step(
                    upstream_id or emitter.new_id("step_"),
                    type_,
                    events,
                    message_id,
                    base=_step_to_openai(data),
                    upstream_id=upstream_id or None,
                )
        if type_ == "tool_calls":
            events.extend(step.apply_calls(_calls(details.get("tool_calls"))))
        status = step_status(data)
        if status != "in_progress":
            last_error = None
            if status == "failed":
                err = _obj(data.get("last_error"))
                last_error = {"code": "server_error", "message": str(err.get("message") or "step failed")}
            emitter.close_step(events, status, last_error)

    def _on_old_step(self, data: dict[str, Any], events: list[StreamEvent]) -> None:
        """A step from before this stream: when it ends, its terminal event alone, with the outputs
        filled in, as OpenAI does."""
        if step_status(data) != "in_progress":
            self.emitter.close_old_step(_step_to_openai(data), events)

    def _on_message(self, data: Message, events: list[StreamEvent]) -> None:
        if data.get("role") == "user":
            return  # the echo of the input turn (or an audio transcript): not assistant output
        emitter = self.emitter
        emitter.advance("in_progress", events)
        message = emitter.message
        message_id = _text(data.get("id")) or (message.id if message else emitter.new_id("msg_"))
        if message is None or message.id != message_id:
            if emitter.closed(message_id):
                return  # a late copy (e.g. a final snapshot) of a message already completed
            metadata = data.get("metadata")
            message = emitter.open_message(
                message_id,
                events,
                created_at=data.get("created_at"),
                assistant_id=data.get("assistant_id"),
                metadata=metadata if isinstance(metadata, dict) else None,
            )
        events.extend(message.apply(data.get("content")))
        if data.get("status") == "completed":
            emitter.close_message(events, "completed")
