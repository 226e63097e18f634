"""One run step being streamed: tool calls in -> `thread.run.step.*` events out.

`thread.run.step.created` carries an empty `tool_calls` list; each tool call then appears in one
`thread.run.step.delta` carrying its `index`, `id`, `type` and name, and later deltas carry only new pieces of
its `arguments` (function) or `input`/`outputs` (code interpreter), diffed with `TextAccumulator` because a
backend may resend complete calls on every update (docs/openai-stream.md, "Run step deltas"). `*.completed`
carries the full step, with arguments exactly as streamed and outputs as last given.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.schemas.status import STEP_STAMP, StepStatus
from gateway.stream.events import Event
from gateway.stream.text import TextAccumulator, TextMode


class _Call:
    """One tool call: its OpenAI index, the latest full shape, and what of it was streamed."""

    __slots__ = ("index", "latest", "outputs_sent", "streamed")

    def __init__(self, index: int, latest: dict[str, Any], mode: TextMode) -> None:
        self.index = index
        self.latest = latest
        self.streamed = TextAccumulator(mode)  # function.arguments or code_interpreter.input
        self.outputs_sent = 0

    def streamed_field(self) -> tuple[str, str] | None:
        kind = self.latest["type"]
        if kind == "function":
            return "function", "arguments"
        if kind == "code_interpreter":
            return "code_interpreter", "input"
        return None


class StepStream:
    """State of the one open run step."""

    __slots__ = ("_calls", "_mode", "_snapshot", "id", "message_id", "type", "upstream_id")

    def __init__(self, snapshot: dict[str, Any], mode: TextMode, upstream_id: str | None = None) -> None:
        self.id: str = snapshot["id"]
        self.type: str = snapshot["type"]
        self.upstream_id = upstream_id  # the backend's own id for the step, when it has one
        self.message_id: str | None = (
            snapshot["step_details"].get("message_creation", {}).get("message_id") or None
            if self.type == "message_creation"
            else None
        )
        self._snapshot = snapshot
        self._mode = mode
        self._calls: dict[Any, _Call] = {}

    def opening_events(self) -> list[Event]:
        shell = (
            {"type": "tool_calls", "tool_calls": []}
            if self.type == "tool_calls"
            else self._snapshot["step_details"]
        )
        created = {**self._snapshot, "status": StepStatus.IN_PROGRESS, "step_details": shell}
        return [Event("thread.run.step.created", created), Event("thread.run.step.in_progress", created)]

    def apply_calls(self, calls: Iterable[tuple[Any, dict[str, Any]]]) -> list[Event]:
        """Diff tool calls (OpenAI's step shape, each with the key it is known by; full values or
        pieces, as the stream's `TextMode` says) against what was sent; at most one delta event."""
        deltas = []
        for key, shaped in calls:
            call = self._calls.get(key)
            first = call is None
            if call is None:
                call = self._calls[key] = _Call(len(self._calls), shaped, self._mode)
            else:
                call.latest = shaped
            if (delta := self._call_delta(call, first)) is not None:
                deltas.append(delta)
        if not deltas:
            return []
        return [
            Event(
                "thread.run.step.delta",
                {
                    "id": self.id,
                    "object": "thread.run.step.delta",
                    "delta": {"step_details": {"type": "tool_calls", "tool_calls": deltas}},
                },
            )
        ]

    def _call_delta(self, call: _Call, first: bool) -> dict[str, Any] | None:
        kind = call.latest["type"]
        body: dict[str, Any] = {}
        field = call.streamed_field()
        if field is not None:
            piece = call.streamed.push(call.latest[field[0]].get(field[1]) or "")
            if piece or first:
                body[field[1]] = piece
        if kind == "code_interpreter":
            outputs = call.latest["code_interpreter"].get("outputs") or []
            new = outputs[call.outputs_sent :]
            if new:
                body["outputs"] = [{"index": call.outputs_sent + i, **o} for i, o in enumerate(new)]
                call.outputs_sent = len(outputs)
        if first:
            if kind == "function":
                body["name"] = call.latest["function"].get("name", "")
                body["output"] = None
            return {"index": call.index, "id": call.latest.get("id", ""), "type": kind, kind: body}
        return {"index": call.index, "type": kind, kind: body} if body else None

    def function_calls(self) -> list[dict[str, Any]]:
        """The function calls of this step, as `required_action.submit_tool_outputs.tool_calls`."""
        return [
            {
                "id": c.latest.get("id", ""),
                "type": "function",
                "function": {"name": c.latest["function"].get("name", ""), "arguments": c.streamed.text},
            }
            for c in self._calls.values()
            if c.latest["type"] == "function" and c.latest["function"].get("output") is None
        ]

    def call_ids(self) -> set[str]:
        return {c.latest.get("id", "") for c in self._calls.values()}

    def details(self) -> dict[str, Any]:
        """The step's `step_details` as they stand, calls with their arguments so far."""
        if self.type != "tool_calls":
            details: dict[str, Any] = self._snapshot["step_details"]
            return details
        return {"type": "tool_calls", "tool_calls": [self._final_call(c) for c in self._calls.values()]}

    def set_usage(self, usage: dict[str, Any] | None) -> None:
        self._snapshot["usage"] = usage

    def closing_events(self, status: str, now: int, last_error: dict[str, Any] | None = None) -> list[Event]:
        """Settle held-back pieces, then `thread.run.step.<status>` with the full step."""
        events: list[Event] = []
        deltas = []
        for call in self._calls.values():
            field = call.streamed_field()
            if field is not None and (piece := call.streamed.finish()):
                deltas.append({"index": call.index, "type": call.latest["type"], field[0]: {field[1]: piece}})
        if deltas:
            events.append(
                Event(
                    "thread.run.step.delta",
                    {
                        "id": self.id,
                        "object": "thread.run.step.delta",
                        "delta": {"step_details": {"type": "tool_calls", "tool_calls": deltas}},
                    },
                )
            )
        final = {**self._snapshot, "status": status, "last_error": last_error}
        stamp = STEP_STAMP.get(status)
        if stamp is not None:
            final[stamp] = final.get(stamp) or now
        if self.type == "tool_calls":
            final["step_details"] = self.details()
        events.append(Event(f"thread.run.step.{status}", final))
        return events

    def _final_call(self, call: _Call) -> dict[str, Any]:
        field = call.streamed_field()
        if field is None:
            return call.latest
        return {**call.latest, field[0]: {**call.latest[field[0]], field[1]: call.streamed.text}}
