"""Decoder + translator together: one MiniMax stream, split at every byte offset, gives the same events."""

from __future__ import annotations

import itertools
import json
from typing import Any

from gateway.bridge.frames import Frame, MessageData, parse_frame
from gateway.bridge.translator import RunStreamTranslator
from gateway.upstream.sse_decoder import SSEDecoder
from tests.stream_checks import check

REPLY = "Grüße, 世界 🌍! 【1†source】"


def frame(data: dict[str, Any], base_resp: dict[str, Any] | None = None) -> bytes:
    return (
        "data: " + json.dumps({"data": data, "base_resp": base_resp or {}}, ensure_ascii=False) + "\r\n\r\n"
    ).encode()


def recorded() -> bytes:
    run = {"id": "run_1", "object": "run", "thread_id": "t", "assistant_id": "a"}
    totals = [REPLY[: i + 2] for i in range(0, len(REPLY), 2)]  # a cumulative MiniMax
    return b"".join(
        [
            frame({**run, "status": "queued"}),
            frame({**run, "status": "in_progress"}),
            b": a comment\n\n",
            *(
                frame(
                    {
                        "id": "msg_1",
                        "object": "message",
                        "role": "ai",
                        "content": [{"type": "text", "text": {"value": t}}],
                    }
                )
                for t in totals
            ),
            frame({**run, "status": "completed"}, {"status_code": 0, "status_msg": "success"}),
        ]
    )


def translate(chunks: list[bytes]) -> list[tuple[str, Any]]:
    counter = itertools.count()
    translator = RunStreamTranslator(
        {"thread_id": "t"}, new_id=lambda p: f"{p}{next(counter)}", clock=lambda: 1
    )
    decoder = SSEDecoder()
    events = []
    for payload in [p for c in chunks for p in decoder.feed(c)] + decoder.finish():
        frame_ = parse_frame(payload)
        if frame_ is not None:
            events.extend(translator.on_frame(frame_))
    events.extend(translator.finish())
    return [(e.name, e.data) for e in events]


def test_every_split_offset_gives_identical_events() -> None:
    raw = recorded()
    whole = translate([raw])
    assert check(whole).texts == {"msg_1": REPLY}
    for cut in range(1, len(raw)):
        assert translate([raw[:cut], raw[cut:]]) == whole, f"split at byte {cut}"


def test_typed_message_frames_translate_like_their_dict_form() -> None:
    """parse_frame decodes message frames into `MessageData`; the dict form (what polling and any
    other shape yield) must give exactly the same events."""
    payloads = SSEDecoder().feed(
        recorded() + frame({"object": "thread.message", "id": "msg_2", "role": "ai"})
    )
    typed, plain = [], []
    for payload in payloads:
        parsed = parse_frame(payload)
        assert parsed is not None, payload
        typed.append(parsed)
        plain.append(Frame(parsed.kind, json.loads(payload)["data"]))
    messages = [f for f in typed if f.kind == "message"]
    assert len(messages) == 13 and all(isinstance(f.data, MessageData) for f in messages)

    def run(frames: list[Frame]) -> list[tuple[str, Any]]:
        counter = itertools.count()
        translator = RunStreamTranslator(
            {"thread_id": "t"}, new_id=lambda p: f"{p}{next(counter)}", clock=lambda: 1
        )
        events = [e for f in frames for e in translator.on_frame(f)] + translator.finish()
        return [(e.name, e.data) for e in events]

    assert run(typed) == run(plain)
