"""The stream core: MiniMax run / message / run-step frames in, OpenAI `thread.*` events out.

No IO, no clock, no randomness: ids and time come in through `NewId` and `Clock`. One translator per
streamed run. It guarantees what the SDKs rely on (stream spec §3), whatever MiniMax sends or omits:

- `thread.run.created` / `queued` / `in_progress` first, synthesised if MiniMax's first frame is
  not a run (the run id is taken from the frame's `run_id` then);
- one open step and one open message at a time: a new one closes the previous (`completed`);
- every assistant message sits inside a `message_creation` step, synthesised when MiniMax sends no
  step frames; a later MiniMax step for the same message is folded into it;
- `requires_action` lists the function calls of the tool step, and every call it lists has been
  streamed as a step delta first (a tool step is synthesised from `required_action` if needed);
- exactly one terminal run event: from MiniMax, or `completed` when the stream ended cleanly
  without one, or `failed` (with `last_error`) on an error frame or a broken upstream.
After the terminal event every further frame is ignored.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Any

from gateway.translate.events import Clock, Event, NewId, StreamEvent
from gateway.translate.messages import MessageStream
from gateway.translate.objects import (
    RUN_FIELDS,
    RUN_STATUS,
    STEP_STATUS,
    TERMINAL_RUN_STATUSES,
    last_error_code,
    run_to_openai,
    step_to_openai,
)
from gateway.translate.steps import StepStream
from gateway.stream.text import TextMode
from gateway.upstream.frames import Frame, MessageData, ThreadMessageData

Message = dict[str, Any] | MessageData

_NONE: frozenset[str] = frozenset()


def _run_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Only what `run_to_openai` reads: a run frame carries more, and a stream keeps its run for life."""
    return {k: v for k, v in data.items() if k in RUN_FIELDS}


_INCOMPLETE_REASON = {
    "failed": "run_failed",
    "cancelled": "run_cancelled",
    "expired": "run_expired",
    "incomplete": "max_tokens",
}


class RunStreamTranslator:
    """`on_frame(frame) -> events`; `fail(...)` / `finish()` close the stream. See the module doc."""

    __slots__ = (
        "_clock",
        "_closed",
        "_message",
        "_mode",
        "_new_id",
        "_old_steps",
        "_resumed",
        "_run_raw",
        "_step",
        "run_status",
        "terminal",
    )

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
        (tool outputs were just submitted) and had these steps; like OpenAI, the stream then starts at
        `thread.run.queued`, and an old step only gets its terminal event."""
        self._run_raw = _run_fields(run)  # MiniMax run fields, updated by every run frame
        self._new_id = new_id
        self._clock = clock
        self._mode = text_mode
        self.run_status: str | None = None  # last run status event sent; None before `created`
        self.terminal = False  # the terminal run event was sent
        self._step: StepStream | None = None  # the open step
        self._message: MessageStream | None = None  # the open assistant message
        self._closed: AbstractSet[str] = _NONE  # ids of closed steps and messages (MiniMax's and ours)
        self._resumed = resume_after is not None
        self._old_steps = resume_after or _NONE  # steps from before this stream

    def _mark_closed(self, *ids: str | None) -> None:
        """Remember closed ids; the set is made on the first close (an idle stream holds none)."""
        closed = self._closed if isinstance(self._closed, set) else set(self._closed)
        closed.update(i for i in ids if i)
        self._closed = closed

    # -- input -----------------------------------------------------------------------------------

    def on_frame(self, frame: Frame) -> list[StreamEvent]:
        if self.terminal:
            return []
        kind, data = frame
        message = self._message
        if kind == "message" and message is not None and self.run_status == "in_progress":
            # The hot path (most frames): more of the open message. Same as `_on_message`, inlined,
            # with plain attribute reads when the frame came through the typed decoder.
            if type(data) is MessageData or type(data) is ThreadMessageData:
                message_id, role, content, status = data.id, data.role, data.content, data.status
            else:
                message_id, role = data.get("id"), data.get("role")
                content, status = data.get("content"), data.get("status")
            if (not message_id or message_id == message.id) and role != "user":
                events = message.apply(content)
                if status == "completed":
                    self._close_message(events, "completed")
                return events
        if isinstance(data, dict) and kind != "message":  # run, step and error frames are dicts
            if kind == "error":
                code = data.get("code", 0)
                return self.fail(
                    last_error_code(code) if isinstance(code, int) else "server_error",
                    f"MiniMax error {code}: {data.get('message', '')}",
                )
            events = self._start(frame)
            if kind == "run":
                self._on_run(data, events)
            else:
                self._on_step(data, events)
            return events
        events = self._start(frame)
        self._on_message(data, events)
        return events

    def fail(self, code: str, message: str) -> list[StreamEvent]:
        """End the run as `failed` with `last_error` (error frame, broken upstream, timeout)."""
        if self.terminal:
            return []
        events = self._start(None)
        self._close("failed", events, last_error={"code": code, "message": message})
        return events

    def finish(self) -> list[StreamEvent]:
        """Upstream ended cleanly: synthesise whatever terminal events MiniMax did not send."""
        if self.terminal:
            return []
        if self.run_status is None:
            return self.fail("server_error", "MiniMax ended the stream without sending anything")
        events: list[StreamEvent] = []
        self._close("completed", events)
        return events

    # -- run -------------------------------------------------------------------------------------

    def _snapshot(self, **changes: Any) -> dict[str, Any]:
        return {**run_to_openai(self._run_raw), **changes}

    def _start(self, frame: Frame | None) -> list[StreamEvent]:
        """`thread.run.created` + `queued` before anything else."""
        if self.run_status is not None:
            return []
        raw = self._run_raw
        if frame is not None:
            if frame.kind == "run" and isinstance(frame.data, dict):
                raw.update(_run_fields(frame.data))
            elif run_id := frame.data.get("run_id"):
                raw["id"] = run_id
        raw["id"] = raw.get("id") or self._new_id("run_")
        raw["created_at"] = raw.get("created_at") or self._clock()
        self.run_status = "queued"
        snap = self._snapshot(status="queued")
        if self._resumed:
            return [Event("thread.run.queued", snap)]
        return [Event("thread.run.created", snap), Event("thread.run.queued", snap)]

    def _advance(self, status: str, events: list[StreamEvent]) -> None:
        """Send a non-terminal status change once (`queued` is never returned to)."""
        if status != self.run_status and status != "queued":
            self.run_status = status
            if status == "in_progress" and not self._run_raw.get("started_at"):
                self._run_raw["started_at"] = self._clock()
            events.append(Event(f"thread.run.{status}", self._snapshot(status=status)))

    def _on_run(self, data: dict[str, Any], events: list[StreamEvent]) -> None:
        self._run_raw.update(_run_fields(data))
        status = RUN_STATUS.get(data.get("status", ""), "in_progress")
        if status in TERMINAL_RUN_STATUSES:
            self._close(status, events, last_error=None)
        else:
            self._advance(status, events)

    def _close(
        self, status: str, events: list[StreamEvent], last_error: dict[str, Any] | None = None
    ) -> None:
        now = self._clock()
        if status in ("completed", "requires_action", "incomplete"):
            self._advance("in_progress", events)
        ok = status in ("completed", "requires_action")
        self._close_message(events, "completed" if ok else "incomplete", _INCOMPLETE_REASON.get(status))
        extra: dict[str, Any] = {"status": status}
        if status == "requires_action":
            extra["required_action"] = self._required_action(events)
            if self._step is not None and self._step.type == "message_creation":
                self._close_step(events, "completed")
        elif self._step is not None:
            step_status = "completed" if ok else ("failed" if status == "incomplete" else status)
            self._close_step(events, step_status, last_error)
        stamp = {
            "completed": "completed_at",
            "failed": "failed_at",
            "cancelled": "cancelled_at",
            "expired": "expires_at",
        }.get(status)
        if stamp and not self._run_raw.get(stamp):
            extra[stamp] = now
        if last_error is not None:
            extra["last_error"] = last_error
        self.run_status = status
        self.terminal = True
        events.append(Event(f"thread.run.{status}", self._snapshot(**extra)))

    def _required_action(self, events: list[StreamEvent]) -> dict[str, Any]:
        """The calls awaiting outputs; each is streamed in a tool step first (synthesised if needed)."""
        listed = run_to_openai(self._run_raw)["required_action"]
        calls = listed["submit_tool_outputs"]["tool_calls"] if listed else []
        streamed = (
            self._step.call_ids() if self._step is not None and self._step.type == "tool_calls" else set()
        )
        missing = [c for c in calls if c["id"] not in streamed]
        if missing:
            if not streamed:
                self._open_step(self._new_id("step_"), "tool_calls", None, events)
            assert self._step is not None
            events.extend(
                self._step.apply_calls(
                    [
                        {"id": c["id"], "type": "function", "function": {**c["function"], "output": ""}}
                        for c in missing
                    ]
                )
            )
        if not calls and self._step is not None and self._step.type == "tool_calls":
            calls = self._step.function_calls()
        return {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}

    # -- steps -----------------------------------------------------------------------------------

    def _open_step(
        self,
        step_id: str,
        type_: str,
        message_id: str | None,
        events: list[StreamEvent],
        upstream: dict[str, Any] | None = None,
    ) -> StepStream:
        self._close_message(events, "completed")
        if self._step is not None:
            self._close_step(events, "completed")
        snap = step_to_openai(upstream or {})
        snap.update(
            id=step_id,
            run_id=self._run_raw["id"],
            thread_id=self._run_raw.get("thread_id", ""),
            assistant_id=snap["assistant_id"] or self._run_raw.get("assistant_id", ""),
            created_at=snap["created_at"] or self._clock(),
            type=type_,
            status="in_progress",
        )
        if type_ == "message_creation":
            snap["step_details"] = {
                "type": "message_creation",
                "message_creation": {"message_id": message_id or ""},
            }
        self._step = StepStream(snap, self._mode, upstream_id=(upstream or {}).get("id"))
        events.extend(self._step.opening_events())
        return self._step

    def _close_step(
        self, events: list[StreamEvent], status: str, last_error: dict[str, Any] | None = None
    ) -> None:
        step = self._step
        if step is None:
            return
        if step.message_id is not None and self._message is not None and self._message.id == step.message_id:
            self._close_message(
                events,
                "completed" if status == "completed" else "incomplete",
                "run_failed" if status == "failed" else None,
            )
        self._step = None
        self._mark_closed(step.id, step.upstream_id)
        events.extend(step.closing_events(status, self._clock(), last_error))

    def _on_step(self, data: dict[str, Any], events: list[StreamEvent]) -> None:
        self._advance("in_progress", events)
        upstream_id = data.get("id") or ""
        if upstream_id in self._closed:
            return  # a late frame for a step already closed
        if upstream_id in self._old_steps:
            self._on_old_step(data, events)
            return
        type_ = "tool_calls" if data.get("type") == "tool_calls" else "message_creation"
        raw_details = data.get("step_details")
        details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
        message_id = (details.get("message_creation") or {}).get("message_id") or None
        step = self._step
        if step is None or upstream_id not in (step.upstream_id, step.id):
            if (
                step is not None
                and type_ == "message_creation" == step.type
                and step.upstream_id is None
                and message_id in (None, step.message_id)
            ):
                step.upstream_id = upstream_id  # MiniMax's step for the message we opened one for
            else:
                step = self._open_step(upstream_id or self._new_id("step_"), type_, message_id, events, data)
        if type_ == "tool_calls":
            events.extend(step.apply_calls(details.get("tool_calls")))
        status = STEP_STATUS.get(data.get("status", ""), "in_progress")
        if status != "in_progress":
            last_error = None
            if status == "failed":
                err = data.get("last_error") or {}
                last_error = {"code": "server_error", "message": str(err.get("message") or "step failed")}
            self._close_step(events, status, last_error)

    def _on_old_step(self, data: dict[str, Any], events: list[StreamEvent]) -> None:
        """A step from before this stream (the tool step outputs were submitted for): when it ends,
        send its terminal event alone, with the outputs filled in, as OpenAI does."""
        status = STEP_STATUS.get(data.get("status", ""), "in_progress")
        if status == "in_progress":
            return
        self._close_message(events, "completed")
        if self._step is not None:
            self._close_step(events, "completed")
        self._mark_closed(data.get("id") or "")
        events.append(Event(f"thread.run.step.{status}", step_to_openai(data)))

    # -- messages --------------------------------------------------------------------------------

    def _on_message(self, data: Message, events: list[StreamEvent]) -> None:
        if data.get("role") == "user":
            return  # the echo of the input turn (or an audio transcript): not assistant output
        self._advance("in_progress", events)
        message_id = data.get("id") or (self._message.id if self._message else self._new_id("msg_"))
        if message_id in self._closed:
            return  # a late copy (e.g. a final snapshot) of a message already completed
        message = self._message
        if message is None or message.id != message_id:
            message = self._open_message(message_id, data, events)
        events.extend(message.apply(data.get("content")))
        if data.get("status") == "completed":
            self._close_message(events, "completed")

    def _open_message(self, message_id: str, data: Message, events: list[StreamEvent]) -> MessageStream:
        self._close_message(events, "completed")
        step = self._step
        fits = (
            step is not None
            and step.type == "message_creation"
            and step.message_id in (None, message_id)
            and step.message_id not in self._closed
        )
        if not fits:
            step = self._open_step(self._new_id("step_"), "message_creation", message_id, events)
        assert step is not None
        step.message_id = message_id
        snapshot = {
            "id": message_id,
            "object": "thread.message",
            "created_at": data.get("created_at") or self._clock(),
            "thread_id": self._run_raw.get("thread_id", ""),
            "role": "assistant",
            "content": [],
            "assistant_id": data.get("assistant_id") or self._run_raw.get("assistant_id") or None,
            "run_id": self._run_raw["id"],
            "attachments": [],
            "status": "in_progress",
            "completed_at": None,
            "incomplete_at": None,
            "incomplete_details": None,
            "metadata": data.get("metadata") if isinstance(data.get("metadata"), dict) else {},
        }
        self._message = MessageStream(snapshot, self._mode)
        events.extend(self._message.opening_events())
        return self._message

    def _close_message(self, events: list[StreamEvent], status: str, reason: str | None = None) -> None:
        if self._message is None:
            return
        message, self._message = self._message, None
        self._mark_closed(message.id)
        events.extend(message.closing_events(status, self._clock(), reason))
