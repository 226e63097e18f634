"""The chat decoder's fast path (`_answer_piece`) gives exactly what its general path gives.

Random streams of chunks, most of them plain answer pieces, many of them odd (extra fields, wrong
types, errors, finishes, usage, thinking, tool calls, a final message, broken JSON), go through a
decoder's `feed` and through another decoder's `feed_general` (the production general path `feed`
hands declined chunks to); the deltas, the errors and the accumulated state must be the same. The
test counts how often the fast path took a chunk and how often it declined one, so a strategy that
stopped reaching either fails instead of passing; a fixed stream reaches both deterministically, and
a planted difference in `feed_general` shows that the comparison catches one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.engine import chunks
from gateway.engine.chunks import ChatStreamDecoder, ChatStreamError, Delta, MalformedChunk, Text

SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PIECE = st.one_of(st.text(alphabet="ab é🌍\n", max_size=6), st.text(alphabet="<>/think\n", max_size=8))
ODD: st.SearchStrategy[Any] = st.sampled_from([None, "", 0, 1, [], {}, "x", True])
ODD_FIELDS = (
    "content",
    "reasoning_content",
    "reasoning_details",
    "tool_calls",
    "finish_reason",
    "index",
    "message",
    "delta",
)
OPENINGS = (
    b'{"choices":[{"delta":{"content":"<think>hm</think>\\n\\n"}}]}',
    b'{"choices":[{"delta":{"content":"Hello"}}]}',
    b'{"choices":[{"delta":{"reasoning_content":"hm"}}]}',
)


@st.composite
def payload(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["piece"] * 12 + ["odd_delta"] * 4 + ["odd_chunk"] * 2 + ["raw", "other"]))
    head: dict[str, Any] = {"id": "c", "object": "chat.completion.chunk", "model": "MiniMax-M2.7"}
    delta: dict[str, Any] = {"content": draw(PIECE), "role": "assistant"}
    choice: dict[str, Any] = {"index": 0, "delta": delta}
    if kind == "odd_delta":  # one or two fields the fast path must look at, with any value
        for field in draw(st.lists(st.sampled_from(ODD_FIELDS), min_size=1, max_size=2, unique=True)):
            where = choice if field in ("finish_reason", "index", "message", "delta") else delta
            where[field] = draw(st.one_of(ODD, PIECE))
    elif kind == "odd_chunk":
        field = draw(st.sampled_from(["usage", "base_resp", "error", "type", "code", "choices"]))
        head[field] = draw(
            st.one_of(ODD, st.just({"status_code": 0}), st.just({"status_code": 1002, "status_msg": "rl"}))
        )
    elif kind == "other":
        return draw(
            st.sampled_from(
                [
                    b"[DONE]",
                    orjson.dumps(
                        {
                            **head,
                            "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}],
                        }
                    ),
                    orjson.dumps({**head, "choices": [], "usage": {"total_tokens": 3}}),
                    orjson.dumps({**head, "choices": [{"index": 0, "message": {"content": "whole"}}]}),
                    orjson.dumps({**head, "choices": [{"index": 0, "delta": {"reasoning_content": "hm"}}]}),
                    orjson.dumps({**head, "choices": [{"index": 1, "delta": {"content": "x"}}]}),
                    orjson.dumps(
                        {
                            **head,
                            "choices": [
                                {
                                    "delta": {
                                        "tool_calls": [
                                            {
                                                "index": 0,
                                                "id": "c1",
                                                "function": {"name": "f", "arguments": "{"},
                                            }
                                        ]
                                    }
                                }
                            ],
                        }
                    ),
                ]
            )
        )
    body = orjson.dumps({**head, "choices": [choice]} if "choices" not in head else head)
    if kind == "raw":
        cut = draw(st.integers(0, len(body)))
        return body[:cut] + draw(st.sampled_from([b"", b"}", b"\xff", b" "]))
    return body


def run(
    decoder: ChatStreamDecoder, payloads: list[bytes], feed: Callable[[bytes], list[Delta]] | None = None
) -> tuple[list[Any], Any]:
    out: list[Any] = []
    feed = feed or decoder.feed
    for p in payloads:
        try:
            out.append(feed(p))
        except (ChatStreamError, MalformedChunk) as exc:
            out.append((type(exc).__name__, str(exc)))
            break
    else:
        out.append(decoder.finish())
    state = (decoder.content, decoder.raw_content, decoder.reasoning, decoder.tool_calls, decoder.usage)
    return out, (state, decoder.finish_reason, decoder.mismatches, decoder.unopened_closer)


REACHED: Counter[str] = Counter()
_answer_piece = chunks._answer_piece


def _counting(chunk: Any) -> str | None:
    piece = _answer_piece(chunk)
    REACHED["taken" if piece is not None else "declined"] += 1
    return piece


@SETTINGS
@given(
    opening=st.lists(st.sampled_from(OPENINGS), max_size=2),
    payloads=st.lists(payload(), min_size=10, max_size=40),
    closer_only=st.booleans(),
)
def test_fast_path_matches_general_path(
    opening: list[bytes], payloads: list[bytes], closer_only: bool
) -> None:
    chunks._answer_piece = _counting
    try:
        compare(opening + payloads, closer_only)
    finally:
        chunks._answer_piece = _answer_piece


def compare(stream: list[bytes], closer_only: bool = False) -> None:
    """`stream` through `feed` and through `feed_general` alone: the same, or AssertionError."""
    fast, general = (
        ChatStreamDecoder(think_closer_only=closer_only),
        ChatStreamDecoder(think_closer_only=closer_only),
    )
    assert run(fast, stream) == run(general, stream, general.feed_general)


def test_the_strategy_reaches_both_paths() -> None:
    REACHED.clear()
    test_fast_path_matches_general_path()
    assert REACHED["taken"] > 300 and REACHED["declined"] > 300, REACHED


FIXED = [  # declined (thinking open, the first answer text, a finish) and taken (later answer pieces)
    OPENINGS[0],
    b'{"choices":[{"delta":{"content":"Hel"}}]}',
    b'{"choices":[{"index":0,"delta":{"content":"lo","role":"assistant"}}]}',
    b'{"choices":[{"delta":{"content":" you"}}]}',
    b'{"choices":[{"delta":{"content":"!"},"finish_reason":"stop"}]}',
    b'{"choices":[],"usage":{"total_tokens":3}}',
    b"[DONE]",
]


def test_a_fixed_stream_reaches_both_paths() -> None:
    REACHED.clear()
    chunks._answer_piece = _counting
    try:
        compare(FIXED)
    finally:
        chunks._answer_piece = _answer_piece
    assert REACHED["taken"] == 2 and REACHED["declined"] >= 2, REACHED


def test_the_comparison_catches_a_planted_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    feed_general = ChatStreamDecoder.feed_general

    def one_more_char(self: ChatStreamDecoder, payload: bytes) -> list[Delta]:
        return [Text(d.piece + "!") if type(d) is Text else d for d in feed_general(self, payload)]

    monkeypatch.setattr(ChatStreamDecoder, "feed_general", one_more_char)
    with pytest.raises(AssertionError):
        compare(FIXED)
