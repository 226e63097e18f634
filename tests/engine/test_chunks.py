"""ChatStreamDecoder: each chat-stream variant of docs/minimax-chat.md decodes exactly, none lost or
doubled."""

# ruff: noqa: RUF001  (the fixtures are verbatim captures with full-width punctuation)

from __future__ import annotations

import itertools
import time
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.engine.chunks import (
    ChatStreamDecoder,
    ChatStreamError,
    Delta,
    Finish,
    MalformedChunk,
    Reasoning,
    Text,
    ToolCallArgs,
    ToolCallStart,
    Usage,
)
from gateway.stream.text import TextMode

# An M2.7 stream as captured (docs/minimax-chat.md, "Chunk shapes"), verbatim.
M27_FIRST = b'{"id":"06fb6b59859725e9e95103a455583ff8","choices":[{"index":0,"delta":{"content":"<think>\\nThe","role":"assistant","name":"MiniMax AI","audio_content":""}}],"created":1789671513,"model":"MiniMax-M2.7","object":"chat.completion.chunk","usage":null,"input_sensitive":false,"output_sensitive":false,"input_sensitive_type":0,"output_sensitive_type":0,"output_sensitive_int":0}'  # noqa: E501
M27_LAST = b'{"id":"06fb6b59859725e9e95103a455583ff8","choices":[{"finish_reason":"stop","index":0,"delta":{"content":" h + k + 1 is an integer, a + b equals 2 times an integer \xe2\x80\x94 by definition, it is even.\\n\\n\xe2\x88\x8e","role":"assistant","name":"MiniMax AI","audio_content":""}}],"created":1789671513,"model":"MiniMax-M2.7","object":"chat.completion.chunk","usage":null,"input_sensitive":false,"output_sensitive":false,"input_sensitive_type":0,"output_sensitive_type":0,"output_sensitive_int":0}'  # noqa: E501
M27_USAGE = b'{"id":"06fb6b59859725e9e95103a455583ff8","choices":[],"created":1789671513,"model":"MiniMax-M2.7","object":"chat.completion.chunk","usage":{"total_tokens":939,"total_characters":0,"prompt_tokens":767,"completion_tokens":172,"completion_tokens_details":{"reasoning_tokens":25},"prompt_tokens_details":{"cached_tokens":443}},"base_resp":{"status_code":0,"status_msg":""}}'  # noqa: E501
SPLIT_CHUNK = b'{"id":"07008f4a82fecea87b8c3822c4ed23c0","choices":[{"index":0,"delta":{"role":"assistant","name":"MiniMax AI","audio_content":"","reasoning_content":"The","reasoning_details":[{"type":"reasoning.text","id":"reasoning-text-1","format":"MiniMax-response-v1","index":0,"text":"The"}]}}],"created":1790008394,"model":"MiniMax-M2.7","object":"chat.completion.chunk","usage":null}'  # noqa: E501
DOCS_LAST_DELTA = '{"id":"02ff7eb7fe6fb505b9d5cb6945a1a98b","choices":[{"finish_reason":"stop","index":0,"delta":{"content":"！有什么可以帮助你的吗？","role":"assistant"}}],"created":1722829751,"model":"MiniMax-M1","object":"chat.completion.chunk","output_sensitive":false,"input_sensitive_type":0,"output_sensitive_type":0}'.encode()  # noqa: E501
DOCS_FINAL = '{"id":"02ff7eb7fe6fb505b9d5cb6945a1a98b","choices":[{"finish_reason":"stop","index":0,"message":{"content":"你好！有什么可以帮助你的吗？","role":"assistant"}}],"created":1722829751,"model":"MiniMax-M1","object":"chat.completion","usage":{"total_tokens":73},"input_sensitive":false,"output_sensitive":false,"input_sensitive_type":0,"output_sensitive_type":0,"base_resp":{"status_code":0,"status_msg":""}}'.encode()  # noqa: E501

ZERO_USAGE = {
    "total_tokens": 0,
    "total_characters": 0,
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "completion_tokens_details": {"reasoning_tokens": 0},
    "prompt_tokens_details": {"cached_tokens": 0},
}
EMPTY_ROLE = orjson.dumps(
    {
        "id": "x",
        "choices": [{"index": 0, "delta": {"role": "", "reasoning_content": ""}}],
        "usage": ZERO_USAGE,
    }
)
USAGE = {"total_tokens": 12, "prompt_tokens": 5, "completion_tokens": 7}


def chunk(finish: str | None = None, **delta: Any) -> bytes:
    choice: dict[str, Any] = {"index": 0, "delta": {"role": "assistant", "name": "MiniMax AI", **delta}}
    if finish:
        choice["finish_reason"] = finish
    return orjson.dumps({"id": "c", "choices": [choice], "object": "chat.completion.chunk", "usage": None})


def usage_chunk(usage: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps(
        {"choices": [], "usage": usage or USAGE, "base_resp": {"status_code": 0, "status_msg": ""}}
    )


def final(finish: str = "stop", **message: Any) -> bytes:
    choice = {"index": 0, "finish_reason": finish, "message": {"role": "assistant", **message}}
    return orjson.dumps({"choices": [choice], "object": "chat.completion", "usage": USAGE, "base_resp": {}})


def decode(payloads: list[bytes], **options: Any) -> tuple[ChatStreamDecoder, list[Delta]]:
    decoder = ChatStreamDecoder(**options)
    out: list[Delta] = []
    for payload in payloads:
        out += decoder.feed(payload)
    out += decoder.finish()
    return decoder, out


def texts(out: list[Delta]) -> str:
    return "".join(d.piece for d in out if isinstance(d, Text))


def reasonings(out: list[Delta]) -> str:
    return "".join(d.piece for d in out if isinstance(d, Reasoning))


def args_by_call(out: list[Delta]) -> dict[int, str]:
    found: dict[int, str] = {}
    for d in out:
        if isinstance(d, ToolCallArgs):
            found[d.index] = found.get(d.index, "") + d.piece
    return found


# -- thinking inline, endings ------------------------------------------------------------------------


def test_m27_inline_thinking_then_usage_only_ending() -> None:
    middle = chunk(content=" sum is even.\n</think>\n\nProof:")
    decoder, out = decode([M27_FIRST, middle, M27_LAST, M27_USAGE])
    assert reasonings(out) == decoder.reasoning == "\nThe sum is even.\n"
    answer = (
        "Proof: h + k + 1 is an integer, a + b equals 2 times an integer — by definition, it is even.\n\n∎"
    )
    assert texts(out) == decoder.content == answer
    assert decoder.raw_content == "<think>\nThe sum is even.\n</think>\n\n" + answer
    assert decoder.finish_reason == "stop" and not decoder.done  # no [DONE], no final message: EOF ended it
    assert decoder.usage is not None and decoder.usage["total_tokens"] == 939
    assert [d for d in out if isinstance(d, Usage | Finish)] == [Usage(decoder.usage), Finish("stop")]
    assert out[-1] == Finish("stop")
    assert decoder.reasoning_details is None and decoder.tool_calls == []


def test_think_tags_split_mid_tag_across_chunks() -> None:
    pieces = ["<th", "ink>", "\nplan", "\n</thi", "nk>", "\n", "\nAns", "wer"]
    decoder, out = decode([chunk(content=p) for p in pieces] + [chunk(finish="stop")])
    assert (reasonings(out), texts(out)) == ("\nplan\n", "Answer")
    assert decoder.raw_content == "".join(pieces)


def test_a_partial_opener_at_eof_is_text() -> None:
    decoder, out = decode([chunk(content="<thi")])
    assert texts(out) == "<thi" and reasonings(out) == ""
    assert decoder.finish_reason is None and out == [Text("<thi")]


def test_look_alike_tags_inside_the_answer_come_through_unchanged() -> None:
    answer = "a <thin b <think> c </think> d </"
    _, out = decode([chunk(content=c) for c in answer] + [b"[DONE]"])
    assert texts(out) == answer and reasonings(out) == ""


def test_closer_only_thinking_needs_the_setting() -> None:
    pieces = ["Check ", "parity.</th", "ink>\n\nEven."]
    _, out = decode([chunk(content=p) for p in pieces], think_closer_only=True)
    assert (reasonings(out), texts(out)) == ("Check parity.", "Even.")
    default, out = decode([chunk(content=p) for p in pieces])
    assert texts(out) == "".join(pieces) and default.unopened_closer  # kept as text, flagged


def test_done_marker_ends_and_flushes() -> None:
    decoder = ChatStreamDecoder()
    assert decoder.feed(chunk(content="Hi <", finish="stop")) == [Text("Hi <")]
    assert decoder.feed(b"[DONE]") == [Finish("stop")]
    assert decoder.done and decoder.finish() == []


def test_finish_reason_on_the_last_text_chunk_keeps_the_text() -> None:
    _, out = decode([chunk(content="<think>r</think>\n\nA"), chunk(content="nswer", finish="length")])
    assert texts(out) == "Answer" and out[-1] == Finish("length")


# -- reasoning fields ----------------------------------------------------------------------------------


def test_reasoning_split_chunk_counts_the_thinking_once() -> None:
    second = chunk(
        reasoning_content=" sum",
        reasoning_details=[{"type": "reasoning.text", "id": "reasoning-text-1", "text": " sum"}],
    )
    decoder, out = decode([SPLIT_CHUNK, second, chunk(content="Even.", finish="stop")])
    assert reasonings(out) == "The sum" and texts(out) == "Even."
    assert decoder.reasoning_details == [
        {
            "type": "reasoning.text",
            "id": "reasoning-text-1",
            "format": "MiniMax-response-v1",
            "index": 0,
            "text": "The sum",
        },
    ]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning_details"])
def test_cumulative_reasoning_snapshots_become_exact_pieces(field: str) -> None:
    totals = ["The", "The sum", "The sum is", "The sum is even."]

    def value(total: str) -> Any:
        return (
            total if field == "reasoning_content" else [{"type": "reasoning.text", "id": "r", "text": total}]
        )

    _, out = decode([chunk(**{field: value(t)}) for t in totals] + [chunk(content="Yes.", finish="stop")])
    assert reasonings(out) == "The sum is even." and texts(out) == "Yes."
    first_text = next(i for i, d in enumerate(out) if isinstance(d, Text))
    assert all(i < first_text for i, d in enumerate(out) if isinstance(d, Reasoning))


def test_details_only_in_some_chunks_lose_nothing() -> None:
    details = [{"type": "reasoning.text", "text": " b"}]
    payloads = [chunk(reasoning_content="a"), chunk(reasoning_details=details), chunk(reasoning_content=" c")]
    _, out = decode(payloads, reasoning_mode=TextMode.INCREMENTAL)
    assert reasonings(out) == "a b c"


def test_m3_thinking_in_both_content_and_reasoning_content_is_emitted_once() -> None:
    payloads = [
        chunk(reasoning_content="Think", content="<think>\nThink"),
        chunk(reasoning_content="ing.", content="ing.\n</think>\n\n"),
        chunk(content="Answer.", finish="stop"),
    ]
    decoder, out = decode(payloads)
    assert (reasonings(out), texts(out)) == ("Thinking.", "Answer.")
    assert decoder.raw_content == "<think>\nThinking.\n</think>\n\nAnswer."
    content_first = [chunk(content="<think>\nThinking.\n</think>\n\n"), chunk(reasoning_content="Thinking.")]
    _, out = decode([*content_first, chunk(content="Answer.")])
    assert (reasonings(out), texts(out)) == ("\nThinking.\n", "Answer.")


# -- the final message ---------------------------------------------------------------------------------


def test_docs_final_message_is_a_replacement_not_an_append() -> None:
    decoder, out = decode([chunk(content="你好"), DOCS_LAST_DELTA, DOCS_FINAL])
    assert texts(out) == decoder.content == "你好！有什么可以帮助你的吗？"
    assert decoder.done and not decoder.mismatch
    assert out[-2:] == [Usage({"total_tokens": 73}), Finish("stop")]


def test_final_message_that_extends_the_stream_adds_only_the_suffix() -> None:
    decoder, out = decode([chunk(content="你好"), DOCS_FINAL])
    assert [d for d in out if isinstance(d, Text)] == [Text("你好"), Text("！有什么可以帮助你的吗？")]
    assert decoder.raw_content == "你好！有什么可以帮助你的吗？" and not decoder.mismatch


def test_final_message_that_disagrees_keeps_the_stream_and_flags_it() -> None:
    decoder, out = decode([chunk(content="Hello there", finish="stop"), final(content="Hi there")])
    assert texts(out) == decoder.content == "Hello there"
    assert decoder.mismatch and decoder.mismatches == ("content differs from the streamed content",)


def test_final_message_repeating_thinking_and_tool_calls_adds_nothing() -> None:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    streamed = [
        chunk(reasoning_content="Plan."),
        chunk(content="Calling."),
        chunk(tool_calls=[call]),
        chunk(finish="tool_calls"),
    ]
    message = {"content": "Calling.", "reasoning_content": "Plan.", "tool_calls": [call]}
    decoder, out = decode([*streamed, final("tool_calls", **message), b"[DONE]"])
    assert (reasonings(out), texts(out)) == ("Plan.", "Calling.")
    assert [d for d in out if isinstance(d, ToolCallStart)] == [ToolCallStart(0, "call_1", "f")]
    assert args_by_call(out) == {0: '{"a":1}'} and not decoder.mismatch
    assert out[-2:] == [Usage(USAGE), Finish("tool_calls")]


def test_final_message_with_thinking_in_content_and_a_new_call() -> None:
    raw = "<think>\nr\n</think>\n\nText"
    extra = {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}
    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"x"'}}
    streamed = [chunk(content=raw[:9]), chunk(content=raw[9:]), chunk(tool_calls=[first])]
    full_first = {**first, "function": {"name": "f", "arguments": '{"x": 2}'}}
    decoder, out = decode([*streamed, final("tool_calls", content=raw, tool_calls=[full_first, extra])])
    assert (reasonings(out), texts(out)) == ("\nr\n", "Text")
    assert [d for d in out if isinstance(d, ToolCallStart)] == [
        ToolCallStart(0, "call_1", "f"),
        ToolCallStart(1, "call_2", "g"),
    ]
    assert args_by_call(out) == {0: '{"x": 2}', 1: "{}"}
    assert decoder.tool_calls[1] == {
        "id": "call_2",
        "type": "function",
        "function": {"name": "g", "arguments": "{}"},
    }


def test_final_message_without_the_think_part_matches_the_answer() -> None:
    streamed = [chunk(content="<think>r</think>\n\nAns")]
    decoder, out = decode([*streamed, final(content="Answer")])
    assert texts(out) == "Answer" and not decoder.mismatch


# -- odd chunks, usage ---------------------------------------------------------------------------------


def test_empty_role_null_delta_null_choices_and_missing_delta_are_harmless() -> None:
    payloads = [
        EMPTY_ROLE,
        chunk(content="A"),
        orjson.dumps({"choices": [{"index": 0, "delta": None}]}),
        orjson.dumps({"choices": None, "usage": None}),
        orjson.dumps({"choices": [{"index": 0}]}),
        orjson.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        usage_chunk(),
        EMPTY_ROLE,  # a placeholder after the real usage must not overwrite it
    ]
    decoder, out = decode(payloads)
    assert out == [Text("A"), Usage(USAGE), Finish("stop")]
    assert decoder.usage == USAGE


def test_placeholder_usage_is_kept_only_when_nothing_better_came() -> None:
    decoder, out = decode([EMPTY_ROLE, chunk(content="x")])
    assert decoder.usage == ZERO_USAGE and not any(isinstance(d, Usage) for d in out)


def test_last_real_usage_wins() -> None:
    later = {**USAGE, "total_tokens": 99}
    decoder, out = decode([usage_chunk(), usage_chunk(USAGE), usage_chunk(later)])
    assert [d for d in out if isinstance(d, Usage)] == [Usage(USAGE), Usage(later)] and decoder.usage == later


# -- tool calls ----------------------------------------------------------------------------------------


def call_piece(index: int | None, id_: str | None, name: str | None, arguments: str) -> dict[str, Any]:
    piece: dict[str, Any] = {"type": "function", "function": {"arguments": arguments}}
    if index is not None:
        piece["index"] = index
    if id_ is not None:
        piece["id"] = id_
    if name is not None:
        piece["function"]["name"] = name
    return piece


@pytest.mark.parametrize("continuation_id", ["", None])
def test_tool_call_arguments_split_with_id_only_in_the_first_piece(continuation_id: str | None) -> None:
    parts = ['{"ci', 'ty": "Par', 'is"}']
    payloads = [
        chunk(content="Let me look."),
        chunk(tool_calls=[call_piece(0, "call_a", "weather", parts[0])]),
    ]
    payloads += [chunk(tool_calls=[call_piece(0, continuation_id, None, p)]) for p in parts[1:]]
    decoder, out = decode([*payloads, chunk(finish="tool_calls", content=None), usage_chunk()])
    assert texts(out) == "Let me look."
    assert out[1] == ToolCallStart(0, "call_a", "weather")
    assert args_by_call(out) == {0: '{"city": "Paris"}'}
    assert decoder.tool_calls == [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    assert out[-1] == Finish("tool_calls")


def test_one_chunk_with_4000_characters_of_arguments() -> None:
    arguments = orjson.dumps({"text": "x" * 4000}).decode()
    decoder, out = decode([chunk(tool_calls=[call_piece(0, "c", "save", arguments)], finish="tool_calls")])
    assert out[:2] == [ToolCallStart(0, "c", "save"), ToolCallArgs(0, arguments)]
    assert decoder.tool_calls[0]["function"]["arguments"] == arguments


def test_parallel_calls_interleaved_in_one_list_and_across_chunks() -> None:
    starts = [call_piece(i, f"call_{i}", f"f{i}", "{") for i in range(3)]
    payloads = [chunk(tool_calls=starts)]
    payloads += [
        chunk(tool_calls=[call_piece(i, "", None, f'"k{i}":{j}')]) for j in range(2) for i in (2, 0, 1)
    ]
    payloads += [chunk(tool_calls=[call_piece(i, None, None, "}") for i in range(3)])]
    decoder, out = decode(payloads)
    assert [d for d in out if isinstance(d, ToolCallStart)] == [
        ToolCallStart(i, f"call_{i}", f"f{i}") for i in range(3)
    ]
    assert args_by_call(out) == {i: f'{{"k{i}":0"k{i}":1}}' for i in range(3)}
    assert [c["function"]["arguments"] for c in decoder.tool_calls] == [
        args_by_call(out)[i] for i in range(3)
    ]


def test_calls_without_index_are_keyed_by_id_then_by_the_latest_call() -> None:
    payloads = [
        chunk(tool_calls=[call_piece(None, "a", "fa", "[1")]),
        chunk(tool_calls=[call_piece(None, None, None, ",2]")]),
        chunk(tool_calls=[call_piece(None, "b", "fb", "[3")]),
        chunk(tool_calls=[call_piece(None, "a", None, "")]),  # the same id again: call a, nothing to add
        chunk(tool_calls=[call_piece(None, "", None, "]")]),
    ]
    decoder, _ = decode(payloads)
    assert [(c["id"], c["function"]["arguments"]) for c in decoder.tool_calls] == [
        ("a", "[1,2]"),
        ("b", "[3]"),
    ]


def test_a_new_id_at_a_used_index_is_a_new_call() -> None:
    payloads = [
        chunk(tool_calls=[call_piece(0, "first", "f", "{}")]),
        chunk(tool_calls=[call_piece(0, "second", "g", "{")]),
        chunk(tool_calls=[call_piece(0, "", None, "}")]),  # continues the latest call at that index
        chunk(tool_calls=[call_piece(0, "second", None, "")]),  # its own id repeated: the same call
    ]
    decoder, out = decode(payloads)
    assert [d for d in out if isinstance(d, ToolCallStart)] == [
        ToolCallStart(0, "first", "f"),
        ToolCallStart(1, "second", "g"),
    ]
    assert [c["function"]["arguments"] for c in decoder.tool_calls] == ["{}", "{}"]


def test_a_call_starts_only_once_id_and_name_are_known() -> None:
    decoder = ChatStreamDecoder()
    assert decoder.feed(chunk(tool_calls=[call_piece(0, None, "f", '{"a"')])) == []
    assert decoder.feed(chunk(tool_calls=[call_piece(0, "late", None, ":1}")])) == [
        ToolCallStart(0, "late", "f"),
        ToolCallArgs(0, '{"a":1}'),
    ]
    nameless = ChatStreamDecoder()
    nameless.feed(chunk(tool_calls=[call_piece(0, "x", None, "{}")]))
    assert nameless.finish() == [ToolCallStart(0, "x", ""), ToolCallArgs(0, "{}")]  # nothing lost at the end


def test_text_held_back_is_released_before_a_tool_call() -> None:
    _, out = decode([chunk(content="<"), chunk(tool_calls=[call_piece(0, "c", "f", "{}")])])
    assert out[:2] == [Text("<"), ToolCallStart(0, "c", "f")]


# -- errors --------------------------------------------------------------------------------------------


def test_native_error_chunk_mid_stream_raises_with_its_code() -> None:
    decoder = ChatStreamDecoder()
    decoder.feed(chunk(content="partial"))
    error = orjson.dumps({"choices": [], "base_resp": {"status_code": 1002, "status_msg": "rate limit"}})
    with pytest.raises(ChatStreamError) as info:
        decoder.feed(error)
    assert (info.value.code, info.value.message) == (1002, "rate limit")
    assert decoder.content == "partial"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b'{"base_resp":{"status_code":1004,"status_msg":"login fail"}}', 1004),
        (b'{"id":"","choices":null,"base_resp":{"status_code":"2013","status_msg":"invalid params"}}', 2013),
        (
            b'{"type":"error","error":{"type":"insufficient_balance_error",'
            b'"message":"insufficient balance (1008)","http_code":"402"},"request_id":"r"}',
            1008,
        ),
        (b'{"type":"error","error":{"type":"authorized_error","message":"invalid api key"}}', 1000),
        (b'{"error":"overloaded"}', 1000),
        (b'{"code":1039,"msg":"token limit"}', 1039),
    ],
)
def test_error_shapes(payload: bytes, code: int) -> None:
    with pytest.raises(ChatStreamError) as info:
        ChatStreamDecoder().feed(payload)
    assert info.value.code == code


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{not json",
        b"[1, 2]",
        b'"text"',
        b'{"choices": {"index": 0}}',
        b'{"choices": ["x"]}',
        b'{"choices": [{"index": 0, "delta": "hi"}]}',
        b'{"choices": [{"index": 0, "delta": {"content": 5}}]}',
        b'{"choices": [{"index": 0, "delta": {"tool_calls": {"index": 0}}}]}',
        b'{"choices": [{"index": 0, "delta": {"reasoning_details": "r"}}]}',
        b'{"choices": [{"index": 1, "delta": {"content": "second choice"}}]}',
        b'{"choices": [], "usage": 5}',
        b'{"choices": [], "base_resp": "ok"}',
    ],
)
def test_unreadable_payloads_raise(payload: bytes) -> None:
    with pytest.raises(MalformedChunk):
        ChatStreamDecoder().feed(payload)


def test_anything_after_done_is_an_error() -> None:
    decoder = ChatStreamDecoder()
    decoder.feed(b"[DONE]")
    for payload in (chunk(content="late"), b"[DONE]", usage_chunk()):
        with pytest.raises(MalformedChunk):
            decoder.feed(payload)


def test_after_the_final_message_only_done_and_usage_may_follow() -> None:
    decoder = ChatStreamDecoder()
    decoder.feed(final(content="x"))
    assert decoder.feed(usage_chunk({"total_tokens": 3})) == [Usage({"total_tokens": 3})]
    with pytest.raises(MalformedChunk):
        decoder.feed(chunk(content="more"))
    assert decoder.feed(b"[DONE]") == []


# -- cost ----------------------------------------------------------------------------------------------


def test_cost_per_chunk_does_not_grow_with_the_reply() -> None:
    """20,000 M2.7-shaped chunks (thinking inline, answer, a call's arguments): µs/chunk stays flat."""
    template = orjson.loads(M27_FIRST)

    def m27(**delta: Any) -> bytes:
        template["choices"][0]["delta"] = {
            "role": "assistant",
            "name": "MiniMax AI",
            "audio_content": "",
            **delta,
        }
        return orjson.dumps(template)

    pieces = ["<think>\n"] + ["reasoning word "] * 6000 + ["\n</think>\n\n"] + ["answer word <b> "] * 9000
    payloads = [m27(content=p) for p in pieces]
    payloads.append(m27(tool_calls=[call_piece(0, "c", "f", '{"a": "')]))
    payloads += [m27(tool_calls=[call_piece(0, "", None, "xy")]) for _ in range(20_000 - len(payloads))]
    assert len(payloads) == 20_000
    best: list[float] = [float("inf")] * 20
    for _ in range(3):
        decoder = ChatStreamDecoder()
        times = []
        for payload in payloads:
            start = time.perf_counter()
            decoder.feed(payload)
            times.append(time.perf_counter() - start)
        blocks = [sum(times[k : k + 1000]) / 1000 * 1e6 for k in range(0, 20_000, 1000)]
        best = [min(a, b) for a, b in zip(best, blocks, strict=True)]
    print("\nµs/chunk per 1,000 chunks:", " ".join(f"{b:.2f}" for b in best))
    assert best[-1] < 3 * best[0] + 2
    assert decoder.content == "answer word <b> " * 9000
    assert len(decoder.tool_calls[0]["function"]["arguments"]) == 7 + 2 * (20_000 - 15_003)


# -- split invariance over whole replies, every dialect -------------------------------------------------

LOOKALIKES = ["<think>", "</think>", "<thin", "</th", "<", ">", "\n", "\n\n", "🤔", "é", "答"]
words = st.lists(st.one_of(st.sampled_from(LOOKALIKES), st.text(min_size=1, max_size=5)), max_size=8).map(
    "".join
)
THINKING = ["none", "inline", "fields", "both_fields_first", "both_content_first", "closer"]
ENDINGS = ["usage_eof", "final", "done", "final_done"]


def cut(draw: st.DrawFn, text: str, max_cuts: int = 6) -> list[str]:
    points = sorted(set(draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=max_cuts))))
    bounds = [0, *(p for p in points if p < len(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@st.composite
def replies(draw: st.DrawFn) -> dict[str, Any]:
    """A reply, its expected decoding, and a chunk sequence for it in a random dialect."""
    thinking = draw(st.sampled_from(THINKING))
    reasoning = "" if thinking == "none" else draw(words.filter(lambda s: "</think>" not in s and s != ""))
    answer = draw(words)
    if thinking in ("none", "fields"):
        assume(not answer.startswith("<think>"))  # content starting with `<think>` is thinking, by rule
    if thinking == "closer":
        assume(not reasoning.startswith("<think>"))  # that would be inline thinking
    cumulative = draw(st.booleans())
    fields_shape = draw(st.sampled_from(["content", "details", "both"]))
    ncalls = draw(st.integers(0, 3))
    calls = [(f"call_{i}", f"fn{i}", draw(st.text(max_size=30))) for i in range(ncalls)]
    interleave, index_less = draw(st.booleans()), draw(st.booleans())
    ending = draw(st.sampled_from(ENDINGS))

    inline = thinking in ("inline", "both_fields_first", "both_content_first")
    raw = (
        f"<think>\n{reasoning}\n</think>\n\n"
        if inline
        else f"{reasoning}</think>\n\n"
        if thinking == "closer"
        else ""
    ) + answer
    expected_reasoning = {
        "none": "",
        "fields": reasoning,
        "both_fields_first": reasoning,
        "closer": reasoning,
    }.get(thinking, f"\n{reasoning}\n")
    payloads: list[bytes] = []
    field_pieces = (
        cut(draw, reasoning) if thinking in ("fields", "both_fields_first", "both_content_first") else []
    )
    if not cumulative:
        assume(
            not any(
                p.startswith(reasoning[: sum(map(len, field_pieces[:i]))])
                for i, p in enumerate(field_pieces)
                if i
            )
        )  # a piece repeating all before it reads as a snapshot
    totals = list(itertools.accumulate(field_pieces))
    field_chunks = []
    for piece, total in zip(field_pieces, totals, strict=True):
        value = total if cumulative else piece
        delta: dict[str, Any] = {}
        if fields_shape in ("content", "both"):
            delta["reasoning_content"] = value
        if fields_shape in ("details", "both"):
            delta["reasoning_details"] = [
                {"type": "reasoning.text", "id": "rt-1", "format": "f", "text": value}
            ]
        field_chunks.append(chunk(**delta))
    content_chunks = [chunk(content=p) for p in cut(draw, raw, 10)]
    if thinking == "both_content_first":
        payloads += content_chunks + field_chunks
    else:
        payloads += field_chunks + content_chunks
    call_chunks: list[list[dict[str, Any]]] = []
    for i, (cid, name, arguments) in enumerate(calls):
        parts = cut(draw, arguments) or [""]
        pieces = [call_piece(None if index_less else i, cid, name, parts[0])]
        pieces += [
            call_piece(None if index_less else i, draw(st.sampled_from(["", None])), None, p)
            for p in parts[1:]
        ]
        call_chunks.append(pieces)
    if interleave and not index_less:
        ordered = [p for group in itertools.zip_longest(*call_chunks) for p in group if p is not None]
    else:
        ordered = [p for group in call_chunks for p in group]
    payloads += [chunk(tool_calls=[p]) for p in ordered]
    reason = "tool_calls" if calls else "stop"
    if draw(st.booleans()) and payloads:
        last = orjson.loads(payloads[-1])
        last["choices"][0]["finish_reason"] = reason
        payloads[-1] = orjson.dumps(last)
    else:
        payloads.append(orjson.dumps({"choices": [{"index": 0, "finish_reason": reason, "delta": {}}]}))
    for _ in range(draw(st.integers(0, 3))):
        payloads.insert(draw(st.integers(0, len(payloads))), EMPTY_ROLE)
    message: dict[str, Any] = {"content": raw}
    if thinking in ("fields", "both_fields_first", "both_content_first"):
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [
            {"id": c, "type": "function", "function": {"name": n, "arguments": a}} for c, n, a in calls
        ]
    if ending in ("usage_eof", "done"):
        payloads.append(usage_chunk())
    if ending in ("final", "final_done"):
        payloads.append(final(reason, **message))
    if ending in ("done", "final_done"):
        payloads.append(b"[DONE]")
    return {
        "payloads": payloads,
        "closer_only": thinking == "closer",
        "raw": raw,
        "reason": reason,
        "answer": answer.lstrip("\r\n") if inline or thinking == "closer" else answer,
        "reasoning": expected_reasoning,
        "calls": [
            {"id": c, "type": "function", "function": {"name": n, "arguments": a}} for c, n, a in calls
        ],
        "done": ending != "usage_eof",
    }


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(replies())
def test_any_reply_in_any_dialect_decodes_exactly(reply: dict[str, Any]) -> None:
    decoder, out = decode(reply["payloads"], think_closer_only=reply["closer_only"])
    assert texts(out) == decoder.content == reply["answer"]
    assert reasonings(out) == decoder.reasoning == reply["reasoning"]
    assert decoder.raw_content == reply["raw"]
    assert decoder.tool_calls == reply["calls"]
    starts = [(d.index, d.id, d.name) for d in out if isinstance(d, ToolCallStart)]
    assert starts == [(i, c["id"], c["function"]["name"]) for i, c in enumerate(reply["calls"])]
    assert args_by_call(out) == {
        i: c["function"]["arguments"] for i, c in enumerate(reply["calls"]) if c["function"]["arguments"]
    }
    assert [d for d in out if isinstance(d, Finish)] == [Finish(reply["reason"])] and out[-1] == Finish(
        reply["reason"]
    )
    assert decoder.usage == USAGE and decoder.done == reply["done"] and not decoder.mismatch
    kinds = [type(d) for d in out if isinstance(d, Text | Reasoning | ToolCallStart)]
    assert (
        Reasoning not in kinds[kinds.index(Text) if Text in kinds else len(kinds) :]
    )  # thinking comes first
