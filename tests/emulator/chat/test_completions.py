"""Chat completions over real HTTP: every dialect reassembles to the intended reply; tools, length, usage."""

from __future__ import annotations

import itertools
import math
from typing import Any

import orjson
import pytest

from gateway.emulator.chat.model import ChatReply, reply_for
from gateway.emulator.chat.request import parse_chat_request
from gateway.emulator.replies import function_arguments, text_reply, tool_result_reply
from tests.emulator.chat.reader import COMPAT, NATIVE, ChatEmu, Read, split_think

PARAMETERS: dict[str, Any] = {  # an object schema, a schema sent as a JSON string, one without properties
    "get_weather": {"type": "object", "properties": {"city": {"type": "string"}}},
    "get_time": '{"type": "object", "properties": {"zone": {"type": "string"}, "format": {}}}',
    "lookup": {"type": "object"},
}
TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": parameters}}
    for name, parameters in PARAMETERS.items()
]
PLAIN = {
    "model": "MiniMax-M2.7",
    "reasoning_split": True,
    "messages": [{"role": "user", "content": "hello there"}],
}
TOOL_ASK = {
    "model": "MiniMax-M3",
    "reasoning_split": True,
    "tools": TOOLS,
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "please explain, then get_time and get_weather for Paris"},
    ],
}
CALL = {
    "id": "call_function_abc_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": "{}"},
}
CALL2 = {**CALL, "id": "call_function_abc_2", "function": {"name": "get_time", "arguments": "{}"}}
TOOL_RESULT = {
    "model": "MiniMax-M2.5",
    "reasoning_split": True,
    "tools": TOOLS,
    "messages": [
        {"role": "user", "content": "get_weather and get_time"},
        {"role": "assistant", "content": "<think>\nok\n</think>\n\n", "tool_calls": [CALL, CALL2]},
        {"role": "tool", "tool_call_id": "call_function_abc_1", "content": "21°C, sunny"},
        {"role": "tool", "tool_call_id": "call_function_abc_2", "content": "12:00"},
    ],
}


def expected_arguments(text: str, name: str) -> str:
    """What the Assistants model gives for `name` named in `text` (the name's first mention as a word)."""
    return function_arguments(text, text.index(name) + len(name), PARAMETERS[name])


def intended(body: dict[str, Any], read: Read) -> ChatReply:
    return reply_for(parse_chat_request(body), read.id)


def check(read: Read, expected: ChatReply, emu: ChatEmu) -> None:
    """The reassembled reply is the intended one, and the ending is the configured one."""
    assert read.error is None and read.finish_reason == expected.finish_reason
    assert (read.reasoning, read.answer) == (expected.reasoning, expected.text)
    calls = [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in expected.tool_calls
    ]
    assert read.tool_calls() == calls
    ending = emu.config.chat_ending
    if ending == "final_message":
        assert read.usage is None and not read.done and read.final is not None
        (choice,) = read.final["choices"]
        message: dict[str, object] = {
            "content": read.content,
            "role": "assistant",
            "name": "MiniMax AI",
            "audio_content": "",
        }
        if read.reasoning_field is not None:
            message["reasoning_content"] = read.reasoning_field
            message["reasoning_details"] = [
                {
                    "type": "reasoning.text",
                    "id": "reasoning-text-1",
                    "format": "MiniMax-response-v1",
                    "index": 0,
                    "text": read.reasoning_field,
                }
            ]
        if calls:
            message["tool_calls"] = calls
        assert choice == {"finish_reason": read.finish_reason, "index": 0, "message": message}
        assert read.final["usage"] == expected.usage() and read.final["base_resp"]["status_code"] == 0
    else:
        assert read.final is None and read.usage == expected.usage() and read.done == (ending == "done")
    assert (read.empty_role > 0) == emu.config.chat_empty_role


def check_layout(read: Read, emu: ChatEmu, reasoning_split: bool) -> None:
    """Where the thinking travelled, per chat_thinking."""
    mode = emu.config.chat_thinking
    if mode == "split" and not reasoning_split:
        mode = "inline"
    assert ("<think>" in read.content) == (mode in ("inline", "both"))
    assert ("</think>" in read.content) == (mode != "split")
    assert (read.reasoning_field is not None) == (mode in ("split", "both"))


MATRIX = list(
    itertools.product(
        ["inline", "split", "both", "closer_only"],
        ["incremental", "cumulative"],
        ["usage", "final_message", "done"],
        [False, True],
        ["frames", "split"],
    )
)


@pytest.mark.parametrize(("thinking", "reasoning", "ending", "empty_role", "chunking"), MATRIX)
def test_every_dialect_reassembles_to_the_intended_reply(
    chat_emu: Any, thinking: str, reasoning: str, ending: str, empty_role: bool, chunking: str
) -> None:
    emu = chat_emu(
        chat_thinking=thinking,
        chat_reasoning=reasoning,
        chat_ending=ending,
        chat_empty_role=empty_role,
        chunking=chunking,
        split_seed=7,
        line_ending="\r\n" if chunking == "split" else "\n",
    )
    for body, path in [
        (PLAIN, COMPAT),
        (TOOL_ASK, NATIVE),
        (TOOL_RESULT, COMPAT),
        ({**PLAIN, "reasoning_split": False}, NATIVE),
    ]:
        read = emu.stream(body, path)
        check(read, intended(body, read), emu)
        reasoning_split = body["reasoning_split"]
        assert isinstance(reasoning_split, bool)
        check_layout(read, emu, reasoning_split)
    assert emu.ctx.chat_stream_ends == [(i, "completed") for i in range(4)] and emu.ctx.chat_streams_open == 0


def test_replies_say_what_the_user_asked(chat_emu: Any) -> None:
    emu = chat_emu()
    read = emu.stream(PLAIN)
    assert read.answer.startswith("You said: hello there.") and read.answer == text_reply("hello there")
    assert len(read.answer) > 60 and read.finish_reason == "stop"
    read = emu.stream(TOOL_ASK)
    assert read.answer == "Let me call get_time, get_weather." and read.finish_reason == "tool_calls"
    calls = read.tool_calls()
    assert [c["function"]["name"] for c in calls] == ["get_time", "get_weather"]
    user = TOOL_ASK["messages"][1]["content"]  # type: ignore[index]
    assert [c["function"]["arguments"] for c in calls] == [
        expected_arguments(user, "get_time"),
        expected_arguments(user, "get_weather"),
    ]
    assert [orjson.loads(c["function"]["arguments"]) for c in calls] == [
        {"zone": "and get_weather for Paris"},
        {"city": "Paris"},
    ]
    read = emu.stream(TOOL_RESULT)
    assert read.answer == " ".join(
        [tool_result_reply("get_weather", "21°C, sunny"), tool_result_reply("get_time", "12:00")]
    )
    assert read.answer == "The result of get_weather is: 21°C, sunny The result of get_time is: 12:00"
    assert not read.calls and read.finish_reason == "stop"
    no_explain = {**TOOL_ASK, "messages": [{"role": "user", "content": "lookup"}]}
    read = emu.stream(no_explain)
    assert read.answer == "" and [c["function"]["name"] for c in read.tool_calls()] == ["lookup"]
    assert args_of(read) == [function_arguments("lookup", 6, {"type": "object"})] == ['{"input":""}']
    read = emu.stream({**no_explain, "tool_choice": "none"})
    assert read.calls == {} and read.answer == text_reply("lookup")
    assert emu.ctx.chat_requests == [
        {"stream": True, **b}
        for b in (PLAIN, TOOL_ASK, TOOL_RESULT, no_explain, {**no_explain, "tool_choice": "none"})
    ]


def test_each_tool_result_is_replied_to_by_the_name_of_the_call_it_answers(chat_emu: Any) -> None:
    emu = chat_emu()
    messages: list[dict[str, Any]] = TOOL_RESULT["messages"]  # type: ignore[assignment]
    user, assistant, weather, clock = messages
    one = {**TOOL_RESULT, "messages": [user, {**assistant, "tool_calls": [CALL]}, weather]}
    read = emu.stream(one)
    assert read.answer == tool_result_reply("get_weather", "21°C, sunny") and read.finish_reason == "stop"
    swapped = {**TOOL_RESULT, "messages": [user, assistant, clock, weather]}
    read = emu.stream(swapped)
    assert read.answer == " ".join(
        [tool_result_reply("get_time", "12:00"), tool_result_reply("get_weather", "21°C, sunny")]
    )
    earlier = {
        **TOOL_RESULT,
        "messages": [
            *messages,
            {"role": "assistant", "content": "ok", "tool_calls": [{**CALL, "id": "call_function_def_1"}]},
            {"role": "tool", "tool_call_id": "call_function_def_1", "content": "rain"},
        ],
    }
    assert emu.stream(earlier).answer == tool_result_reply("get_weather", "rain")  # only the trailing ones


def test_thinking_tags_are_split_across_chunks(chat_emu: Any) -> None:
    for size in (4, 64):
        emu = chat_emu(chars_per_chunk=size)
        r = emu.post({"stream": True, **PLAIN})
        chunks = [orjson.loads(e.removeprefix(b"data: ")) for e in r.content.split(b"\n\n") if e]
        contents = [c["choices"][0]["delta"]["content"] for c in chunks if c["choices"]]
        assert contents[0] == "<thi" and not any("</think>" in c for c in contents)
        assert "".join(contents).count("</think>") == 1 and max(map(len, contents)) <= size


def args_of(read: Read) -> list[str]:
    return [c["function"]["arguments"] for c in read.tool_calls()]


def test_tool_arguments_pieces_and_whole_agree_and_big_arguments_fit_one_chunk(chat_emu: Any) -> None:
    body = {**TOOL_ASK, "messages": [{"role": "user", "content": "big lookup then get_weather"}]}
    pieces, whole = chat_emu(chat_tool_args="pieces"), chat_emu(chat_tool_args="whole")
    rp, rw = pieces.stream(body), whole.stream(body)
    assert args_of(rp) == args_of(rw) and len(args_of(rw)) == 2
    text = body["messages"][0]["content"]  # type: ignore[index]
    padded = [
        {**orjson.loads(expected_arguments(text, name)), "padding": "x" * 4000}
        for name in ("lookup", "get_weather")
    ]
    assert [orjson.loads(a) for a in args_of(rw)] == padded
    assert [list(orjson.loads(a)) for a in args_of(rw)] == [["input", "padding"], ["city", "padding"]]
    assert args_of(rw) == [orjson.dumps(p).decode() for p in padded]
    raw = whole.post({"stream": True, **body}).content
    tool_chunks = [e for e in raw.split(b"\n\n") if b'"tool_calls":[{' in e]
    assert len(tool_chunks) == 2 and all(len(e) > 4000 for e in tool_chunks)
    raw = pieces.post({"stream": True, **body}).content
    assert raw.count(b'"tool_calls":[{') > 100 and raw.count(b'"id":"","type":"function"') > 100


def test_parallel_calls_get_distinct_ids_and_indexes(chat_emu: Any) -> None:
    emu = chat_emu(chat_tool_args="whole")
    body = {**TOOL_ASK, "messages": [{"role": "user", "content": "lookup, get_time, get_weather"}]}
    read = emu.stream(body)
    calls = read.tool_calls()
    assert sorted(read.calls) == [0, 1, 2] and len({c["id"] for c in calls}) == 3
    assert [c["function"]["name"] for c in calls] == ["lookup", "get_time", "get_weather"]
    text = body["messages"][0]["content"]  # type: ignore[index]
    assert args_of(read) == [expected_arguments(text, n) for n in ("lookup", "get_time", "get_weather")]
    assert [orjson.loads(a) for a in args_of(read)] == [
        {"input": ", get_time, get_weather"},
        {"zone": ", get_weather"},
        {"city": ""},
    ]
    assert len({c["id"] for c in emu.stream(body).tool_calls()} | {c["id"] for c in calls}) == 6  # per reply


@pytest.mark.parametrize("field", ["max_completion_tokens", "max_tokens"])
@pytest.mark.parametrize("limit", [1, 10, 30])
def test_length_cut_and_usage(chat_emu: Any, field: str, limit: int) -> None:
    emu = chat_emu(chat_thinking="split")
    full = emu.stream(PLAIN)
    read = emu.stream({**PLAIN, field: limit})
    assert read.finish_reason == "length" and read.usage is not None
    assert len(read.reasoning) + len(read.answer) == 4 * limit
    assert (full.reasoning + full.answer).startswith(read.reasoning + read.answer)
    assert read.usage["completion_tokens"] == limit
    assert read.usage["completion_tokens_details"]["reasoning_tokens"] == math.ceil(len(read.reasoning) / 4)
    assert read.usage["total_tokens"] == read.usage["prompt_tokens"] + limit


def test_length_cut_inside_thinking_leaves_the_think_tag_open(chat_emu: Any) -> None:
    read = chat_emu().stream({**TOOL_ASK, "reasoning_split": False, "max_completion_tokens": 3})
    assert read.content == "<think>\n" + read.reasoning and len(read.reasoning) == 12
    assert read.finish_reason == "length" and read.calls == {}


def test_usage_counts_characters(chat_emu: Any) -> None:
    read = chat_emu().stream(TOOL_RESULT)
    contents = "".join(m["content"] for m in TOOL_RESULT["messages"])  # type: ignore[attr-defined]
    out = len(read.reasoning) + len(read.answer)
    assert read.usage == {
        "total_tokens": math.ceil(len(contents) / 4) + math.ceil(out / 4),
        "total_characters": 0,
        "prompt_tokens": math.ceil(len(contents) / 4),
        "completion_tokens": math.ceil(out / 4),
        "completion_tokens_details": {"reasoning_tokens": math.ceil(len(read.reasoning) / 4)},
        "prompt_tokens_details": {"cached_tokens": 0},
    }


@pytest.mark.parametrize("path", [COMPAT, NATIVE])
def test_non_streamed_answer_is_one_completion(chat_emu: Any, path: str) -> None:
    emu = chat_emu(chat_thinking="both", chat_ending="final_message")
    streamed = emu.stream(TOOL_ASK, path)
    r = emu.post({**TOOL_ASK, "stream": False}, path)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    obj = r.json()
    assert obj["object"] == "chat.completion" and obj["base_resp"] == {"status_code": 0, "status_msg": ""}
    message = obj["choices"][0]["message"]
    assert streamed.final is not None
    final = streamed.final["choices"][0]["message"]
    assert {k: v for k, v in message.items() if k != "tool_calls"} == {
        k: v for k, v in final.items() if k != "tool_calls"
    }
    assert [c["function"] for c in message["tool_calls"]] == [c["function"] for c in final["tool_calls"]]
    assert split_think(message["content"]) == (
        message["reasoning_content"],
        "Let me call get_time, get_weather.",
    )
