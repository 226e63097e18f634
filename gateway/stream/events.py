"""The core's output type: one OpenAI stream event (wire name + JSON payload), and the ports it needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import orjson


class Event(NamedTuple):
    """One OpenAI `thread.*` stream event: its wire name and its payload."""

    name: str
    data: dict[str, Any]


class TextDelta(NamedTuple):
    """A `thread.message.delta` whose only content is one text piece: by far the most frequent
    event, so it comes pre-encoded. `head` is the SSE event up to the piece's JSON string (made once
    per content block, see `text_delta_head`); `TEXT_DELTA_TAIL` closes it. `name` and `data` give
    the same view as `Event`'s (`data` is decoded from the bytes: for tests and slow paths)."""

    head: bytes
    piece: str

    @property
    def name(self) -> str:
        return "thread.message.delta"

    @property
    def data(self) -> dict[str, Any]:
        encoded = self.head.split(b"data: ", 1)[1] + orjson.dumps(self.piece) + TEXT_DELTA_TAIL
        decoded: dict[str, Any] = orjson.loads(encoded[:-2])
        return decoded


TEXT_DELTA_TAIL = b"}}]}}\n\n"


def text_delta_head(message_id: str, index: int) -> bytes:
    """The bytes of a text-only `thread.message.delta` for this message and content index, up to
    the piece: exactly what `orjson.dumps` makes of the dict form, which the encoder checks in tests."""
    head = b'event: thread.message.delta\ndata: {"id":%s,"object":"thread.message.delta",' % orjson.dumps(
        message_id
    )
    return head + b'"delta":{"content":[{"index":%d,"type":"text","text":{"value":' % index


StreamEvent = Event | TextDelta
"""What the stream core emits."""

NewId = Callable[[str], str]
"""Makes a fresh id with the given prefix (`step_`, `msg_`, `run_`); injected so tests are deterministic."""

Clock = Callable[[], int]
"""Returns the current Unix time in seconds; injected, never read inside the core."""
