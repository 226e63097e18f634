"""Check an OpenAI `thread.*` event sequence against what the SDKs rely on (docs/openai-stream.md,
"Ordering rules the SDKs rely on").

Used by the translator's unit tests and by the end-to-end tests on real gateway output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TERMINAL_RUN = {
    "thread.run.completed",
    "thread.run.requires_action",
    "thread.run.failed",
    "thread.run.cancelled",
    "thread.run.expired",
    "thread.run.incomplete",
}
STEP_END = {
    "thread.run.step.completed",
    "thread.run.step.failed",
    "thread.run.step.cancelled",
    "thread.run.step.expired",
}
MESSAGE_END = {"thread.message.completed", "thread.message.incomplete"}


@dataclass
class Transcript:
    """What a client rebuilt from the events: texts per message (from deltas) and the final run."""

    texts: dict[str, str] = field(default_factory=dict)
    completed_texts: dict[str, str] = field(default_factory=dict)
    tool_calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    final_run: dict[str, Any] | None = None
    names: list[str] = field(default_factory=list)


def check(events: list[tuple[str, dict[str, Any]]]) -> Transcript:
    """Assert every ordering and shape rule; return what the events add up to."""
    out = Transcript(names=[name for name, _ in events])
    names = out.names
    assert names, "no events"
    first_run = names.index("thread.run.created")
    assert all(n == "thread.created" for n in names[:first_run]), names[:first_run]
    terminals = [n for n in names if n in TERMINAL_RUN]
    assert len(terminals) == 1, f"expected one terminal run event, got {terminals}"
    assert names[-1] in TERMINAL_RUN, f"last event {names[-1]} is not a terminal run event"
    open_message: str | None = None
    open_step: str | None = None
    seen_messages: set[str] = set()
    seen_steps: set[str] = set()
    blocks: dict[str, list[str]] = {}
    for name, data in events:
        if name == "thread.message.created":
            assert open_message is None, f"message {data['id']} created while {open_message} is open"
            assert data["id"] not in seen_messages, f"message id {data['id']} reused"
            assert data["content"] == [], "message.created must have empty content"
            assert open_step is not None, "a message outside a step"
            open_message = data["id"]
            seen_messages.add(open_message)
            blocks[open_message] = []
        elif name == "thread.message.delta":
            assert data["id"] == open_message, f"delta for {data['id']}, open is {open_message}"
            assert open_message is not None, "a delta with no message open"
            for part in data["delta"]["content"]:
                index = part["index"]
                parts = blocks[open_message]
                assert index <= len(parts), f"content index {index} skips ahead of {len(parts)}"
                if index == len(parts):
                    parts.append("")
                if part["type"] == "text":
                    parts[index] += part["text"].get("value", "")
        elif name in MESSAGE_END:
            assert data["id"] == open_message, f"{name} for {data['id']}, open is {open_message}"
            assert open_message is not None, f"{name} with no message open"
            texts = [c["text"]["value"] for c in data["content"] if c["type"] == "text"]
            rebuilt = [t for t in blocks[open_message]]
            assert texts == rebuilt[: len(texts)], f"completed text {texts!r} != deltas {rebuilt!r}"
            out.texts[open_message] = "".join(rebuilt)
            out.completed_texts[open_message] = "".join(texts)
            open_message = None
        elif name == "thread.run.step.created":
            assert open_step is None, f"step {data['id']} created while {open_step} is open"
            assert data["id"] not in seen_steps, f"step id {data['id']} reused"
            if data["type"] == "tool_calls":
                assert data["step_details"]["tool_calls"] == [], "step.created must have no tool calls"
            open_step = data["id"]
            seen_steps.add(open_step)
        elif name == "thread.run.step.delta":
            assert data["id"] == open_step, f"step delta for {data['id']}, open is {open_step}"
            assert "id" not in data["delta"], "a step delta must not carry an id"
            for call in data["delta"]["step_details"]["tool_calls"]:
                key = f"{open_step}:{call['index']}"
                if key not in out.tool_calls:
                    assert "id" in call and "type" in call, f"first delta of a call lacks id/type: {call}"
                    out.tool_calls[key] = {
                        "id": call["id"],
                        "type": call["type"],
                        "name": "",
                        "arguments": "",
                    }
                else:
                    assert "id" not in call, "a later tool-call delta repeats the id"
                fn = call.get("function") or {}
                out.tool_calls[key]["name"] += fn.get("name") or ""
                out.tool_calls[key]["arguments"] += fn.get("arguments") or ""
        elif name in STEP_END:
            assert data["id"] == open_step or open_step is None, (
                f"{name} for {data['id']} while {open_step} open"
            )
            assert open_message is None, "a step ended while its message is open"
            if data["id"] == open_step:
                open_step = None
        elif name in TERMINAL_RUN:
            assert open_message is None, "the run ended with a message open"
            if name != "thread.run.requires_action":
                assert open_step is None, "the run ended with a step open"
            out.final_run = data
    return out


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Split a gateway response body into (event, data) pairs; asserts the `done` terminator."""
    import json

    text = raw.decode("utf-8")
    assert text.endswith("event: done\ndata: [DONE]\n\n"), f"stream does not end with done: {text[-200:]!r}"
    events = []
    for block in text.split("\n\n"):
        if not block.strip() or block.startswith(":"):
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n") if not line.startswith(":"))
        if lines.get("event") == "done":
            continue
        events.append((lines["event"], json.loads(lines["data"])))
    return events
