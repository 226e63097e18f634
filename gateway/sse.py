"""Encode OpenAI `thread.*` events as SSE bytes; the `done` terminator; keep-alive comments."""

from __future__ import annotations

import orjson

from gateway.translate.events import Event

DONE = b"event: done\ndata: [DONE]\n\n"
PING = b": ping\n\n"


def encode(event: Event) -> bytes:
    """`event: <name>\\ndata: <json>\\n\\n` (orjson never emits raw newlines inside the JSON)."""
    return b"".join((b"event: ", event.name.encode(), b"\ndata: ", orjson.dumps(event.data), b"\n\n"))


def encode_all(events: list[Event]) -> bytes:
    return b"".join(encode(e) for e in events)


def error_event(message: str, *, type_: str = "server_error", code: str | None = None) -> bytes:
    """An `event: error` the SDKs raise as APIError (wrapped form, see stream spec §2)."""
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"
