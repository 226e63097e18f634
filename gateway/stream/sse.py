"""Encode OpenAI `thread.*` events as SSE bytes; the `done` terminator; keep-alive comments."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

import orjson

from gateway.stream.events import TEXT_DELTA_TAIL, StreamEvent, TextDelta

DONE = b"event: done\ndata: [DONE]\n\n"
PING = b": ping\n\n"

_RUN = ("created", "queued", "in_progress", "requires_action", "completed", "incomplete", "failed")
_STEP = ("created", "in_progress", "delta", "completed", "failed", "cancelled", "expired")
_MESSAGE = ("created", "in_progress", "delta", "completed", "incomplete")
_NAMES = (
    "thread.created",
    *(f"thread.run.{s}" for s in (*_RUN, "cancelling", "cancelled", "expired")),
    *(f"thread.run.step.{s}" for s in _STEP),
    *(f"thread.message.{s}" for s in _MESSAGE),
)
_dumps = orjson.dumps


def _head(name: str) -> bytes:
    return b"event: " + name.encode() + b"\ndata: "


_HEADS = MappingProxyType({name: _head(name) for name in _NAMES})  # b"event: <name>\ndata: " per event


def encode_into(events: Sequence[StreamEvent], parts: list[bytes]) -> list[bytes]:
    """Append `events` as SSE to `parts` (joined once per write, not once per event):
    `event: <name>\ndata: <json>\n\n` (orjson never emits raw newlines inside the JSON)."""
    for event in events:
        if isinstance(event, TextDelta):
            parts.append(event.head)
            parts.append(_dumps(event.piece))
            parts.append(TEXT_DELTA_TAIL)
        else:
            parts.append(_HEADS.get(event.name) or _head(event.name))
            parts.append(_dumps(event.data))
            parts.append(b"\n\n")
    return parts


def encode_text(delta: TextDelta) -> bytes:
    """One text delta as SSE, in one piece: the bytes `encode_into` makes of it (the relay's text lane)."""
    return delta.head + _dumps(delta.piece) + TEXT_DELTA_TAIL


def error_event(message: str, *, type_: str = "server_error", code: str | None = None) -> bytes:
    """An `event: error` the SDKs raise as APIError (the wrapped form of docs/openai-stream.md, "Errors in a
    stream")."""
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"
