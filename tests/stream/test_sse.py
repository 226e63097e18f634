"""SSE encoding: the pre-encoded text delta is byte-for-byte the encoding of its dict form."""

from __future__ import annotations

import pytest

from gateway.stream.events import Event, StreamEvent, TextDelta, text_delta_head
from gateway.stream.sse import encode_into, encode_text


def encode(*events: StreamEvent) -> bytes:
    return b"".join(encode_into(events, []))


@pytest.mark.parametrize("message_id", ["msg_1", 'msg_"quoted"', "msg_é\u2028"])
@pytest.mark.parametrize(
    "piece", ["Hello", 'a "b" \\ c', "line\nbreak\r\t", "emoji 🙂 and \x00\x1f", "é" * 300]
)
@pytest.mark.parametrize("index", [0, 3, 12])
def test_text_delta_encodes_as_its_dict_form(message_id: str, piece: str, index: int) -> None:
    fast = TextDelta(text_delta_head(message_id, index), piece)
    slow = Event(
        "thread.message.delta",
        {
            "id": message_id,
            "object": "thread.message.delta",
            "delta": {"content": [{"index": index, "type": "text", "text": {"value": piece}}]},
        },
    )
    assert encode(fast) == encode(slow) == encode_text(fast)
    assert fast.name == slow.name and fast.data == slow.data


def test_events_are_framed_one_after_another() -> None:
    events: list[StreamEvent] = [
        Event("thread.run.created", {"id": "run_1"}),
        TextDelta(text_delta_head("m", 0), "x"),
    ]
    raw = encode(*events)
    assert raw.count(b"\n\n") == 2 and raw.startswith(b"event: thread.run.created\ndata: {")
    assert b"\n" not in raw.split(b"data: ", 2)[2].rstrip(b"\n")  # no raw newline inside the JSON
