"""Chat completions over real HTTP: validation and auth errors in both shapes, fault markers, early close."""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
import orjson
import pytest

from gateway.emulator.replies import text_reply, tool_result_reply
from tests.emulator.chat.reader import (
    COMPAT,
    NATIVE,
    ChatEmu,
    assert_compat,
    assert_native,
    read_events,
)
from tests.emulator.sse import parse_sse as sse_events

BODY = {"model": "MiniMax-M2.7", "messages": [{"role": "user", "content": "hi"}]}
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
LOGIN = "login fail: Please carry the API secret key in the 'Authorization' field of the request header"


def with_text(text: str, **extra: Any) -> dict[str, Any]:
    return {**BODY, "stream": True, "messages": [{"role": "user", "content": text}], **extra}


INVALID = {
    "temperature 0": {**BODY, "temperature": 0},
    "temperature 1.5": {**BODY, "temperature": 1.5},
    "top_p 0": {**BODY, "top_p": 0},
    "unknown model": {**BODY, "model": "abab6.5s-chat"},
    "tool_choice required": {**BODY, "tool_choice": "required"},
    "tool_choice named": {**BODY, "tool_choice": {"type": "function", "function": {"name": "f"}}},
    "orphan tool message": {
        **BODY,
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "x", "content": "1"},
        ],
    },
    "tool answers another call": {
        **BODY,
        "messages": [
            {"role": "user", "content": "f"},
            {"role": "assistant", "content": "", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_2", "content": "1"},
        ],
    },
    "tool after a user turn": {
        **BODY,
        "messages": [
            {"role": "assistant", "content": "", "tool_calls": [CALL]},
            {"role": "user", "content": "f"},
            {"role": "tool", "tool_call_id": "call_1", "content": "1"},
        ],
    },
    "tool call without a name": {
        **BODY,
        "messages": [
            {"role": "user", "content": "f"},
            {"role": "assistant", "content": "", "tool_calls": [{**CALL, "function": {"arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "1"},
        ],
    },
    "no messages": {**BODY, "messages": []},
    "bad role": {**BODY, "messages": [{"role": "ai", "content": "hi"}]},
    "bad fault marker": {**BODY, "messages": [{"role": "user", "content": "hi [[fault:explode:1]]"}]},
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_validation_errors_in_both_shapes(chat_emu: Any, case: str) -> None:
    emu = chat_emu()
    body = INVALID[case]
    native = assert_native(emu.post(body, NATIVE), 2013)
    compat = assert_compat(emu.post(body, COMPAT), 400, "bad_request_error", 2013)
    assert native.startswith("invalid params, ") and compat == f"{native} (2013)"
    if case == "unknown model":
        assert "abab6.5s-chat" in native
    assert emu.ctx.chat_requests == [body, body] and emu.ctx.chat_stream_ends == []


def test_a_valid_tool_turn_and_every_model_pass_validation(chat_emu: Any) -> None:
    emu = chat_emu()
    ok = [{"role": "user", "content": "f"}, {"role": "assistant", "content": None, "tool_calls": [CALL]}]
    ok.append({"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "42"}]})
    for model in (
        "MiniMax-M3",
        "MiniMax-M2.7-highspeed",
        "MiniMax-M2.5-highspeed",
        "MiniMax-M2.1",
        "MiniMax-M2",
    ):
        read = emu.stream({**BODY, "model": model, "messages": ok, "temperature": 1, "top_p": 0.5})
        assert read.answer == tool_result_reply("f", "42") == "The result of f is: 42" and read.final is None


@pytest.mark.parametrize("header", [None, "Bearer wrong-k3y", "Bearer", "Basic s3cr3t-k3y"])
def test_auth_failure_in_both_shapes(chat_emu: Any, header: str | None) -> None:
    emu = chat_emu(api_key="s3cr3t-k3y")
    headers = {"Authorization": header} if header else {}
    with httpx.Client(base_url=emu.server.url) as client:
        native = client.post(NATIVE, json=BODY, headers=headers)
        compat = client.post(COMPAT, json=BODY, headers=headers)
    assert assert_native(native, 1004) == LOGIN
    assert assert_compat(compat, 401, "authorized_error", 1004) == f"{LOGIN} (1004)"
    assert b"k3y" not in native.content + compat.content
    assert emu.stream(with_text("hi")).finish_reason == "stop"  # the right key works


def test_get_on_the_chat_path_is_a_404(chat_emu: Any) -> None:
    r = chat_emu().client.get(COMPAT)
    assert (r.status_code, r.text, r.headers["content-type"].split(";")[0]) == (
        404,
        "404 page not found",
        "text/plain",
    )


def events_of(emu: ChatEmu, body: dict[str, Any], path: str = COMPAT) -> list[bytes]:
    r = emu.post(body, path)
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
    return sse_events(r.content)


@pytest.mark.parametrize(
    ("n", "code", "msg"),
    [(0, 1000, "unknown error"), (3, 1027, "output new_sensitive"), (7, 1002, "rate limit")],
)
@pytest.mark.parametrize("path", [COMPAT, NATIVE])
def test_error_chunk_after_exactly_n_chunks(chat_emu: Any, n: int, code: int, msg: str, path: str) -> None:
    emu = chat_emu()
    spec = f"error_chunk:{n}" + ("" if code == 1000 else f":{code}")
    events = events_of(emu, with_text(f"hi [[fault:{spec}]]"), path)
    assert len(events) == n + 1
    error = orjson.loads(events[-1])
    assert error["base_resp"] == {"status_code": code, "status_msg": msg} and error["choices"] == []
    assert error["output_sensitive"] is (code == 1027)
    read = read_events(events[:-1])
    assert read.error is None and read.usage is None
    assert emu.ctx.chat_stream_ends == [(0, "error")]


def test_error_chunk_beyond_the_stream_comes_after_the_last_chunk(chat_emu: Any) -> None:
    emu = chat_emu(chat_ending="done")
    clean = events_of(emu, with_text("hi"))
    events = events_of(emu, with_text("hi [[fault:error_chunk:100000:1033]]"))
    assert events[:-1][-1] == b"[DONE]" and len(events) == len(clean) + 1
    assert orjson.loads(events[-1])["base_resp"]["status_code"] == 1033


def stream_until_broken(emu: ChatEmu, body: dict[str, Any]) -> bytes:
    received = b""
    with pytest.raises(httpx.RemoteProtocolError), emu.client.stream("POST", COMPAT, json=body) as r:
        for chunk in r.iter_raw():
            received += chunk
    return received


@pytest.mark.parametrize("n", [0, 5])
def test_cut_leaves_an_unterminated_body(chat_emu: Any, n: int) -> None:
    emu = chat_emu()
    received = stream_until_broken(emu, with_text(f"hi [[fault:cut:{n}]]"))
    assert received.count(b"data: ") == n and (received.endswith(b"\n\n") or received == b"")
    assert len(sse_events(received)) == n
    assert emu.ctx.chat_stream_ends == [(0, "cut")] and emu.ctx.chat_streams_open == 0


def test_cut_at_or_beyond_the_end_still_breaks_the_body(chat_emu: Any) -> None:
    emu = chat_emu(chunking="split", split_seed=3)
    total = len(events_of(emu, with_text("hi")))
    for n in (total, total + 50):
        received = stream_until_broken(emu, with_text(f"hi [[fault:cut:{n}]]"))
        assert len(sse_events(received)) == total
    assert [end for _, end in emu.ctx.chat_stream_ends] == ["completed", "cut", "cut"]


def test_malformed_chunk_then_the_stream_goes_on(chat_emu: Any) -> None:
    emu = chat_emu(chat_ending="final_message")
    events = events_of(emu, with_text("hi [[fault:malformed:2]]"))
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(events[2])
    read = read_events(events[:2] + events[3:])
    assert read.answer == text_reply("hi") and read.final is not None
    assert emu.ctx.chat_stream_ends == [(0, "completed")]


def arrival_times(emu: ChatEmu, body: dict[str, Any]) -> list[float]:
    times: list[float] = []
    with emu.client.stream("POST", COMPAT, json=body) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                times.append(time.monotonic())
    return times


def test_stall_delays_the_next_chunk(chat_emu: Any) -> None:
    times = arrival_times(chat_emu(), with_text("hi [[fault:stall:2:0.4]]"))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[1] >= 0.35 and max(gaps[:1] + gaps[2:]) < 0.2


def test_pace_marker_spaces_chunks(chat_emu: Any) -> None:
    gaps = [
        b - a for a, b in itertools.pairwise(arrival_times(chat_emu(), with_text("hi [[fault:pace:15]]")))
    ]
    assert len(gaps) > 20 and sorted(gaps)[len(gaps) // 2] >= 0.012


def test_several_faults_in_one_marker_and_the_marker_is_not_echoed(chat_emu: Any) -> None:
    emu = chat_emu()
    events = events_of(emu, with_text("say [[fault:malformed:1, error_chunk:4:1008]] this"))
    assert len(events) == 5 and orjson.loads(events[-1])["base_resp"]["status_code"] == 1008
    read = emu.stream(with_text("  say this [[fault:stall:0:0]]  "))
    assert read.answer == text_reply("say this")
    assert emu.ctx.chat_requests[1]["messages"][0]["content"] == "  say this [[fault:stall:0:0]]  "


ERROR_BEFORE = [
    (1004, 401, "authorized_error"),
    (1002, 429, "rate_limit_error"),
    (2045, 429, "rate_limit_error"),
    (2056, 429, "rate_limit_error"),
    (1008, 402, "insufficient_balance_error"),
    (2013, 400, "bad_request_error"),
    (1000, 500, "api_error"),
    (1033, 500, "api_error"),
]


@pytest.mark.parametrize(("code", "status", "kind"), ERROR_BEFORE)
def test_error_before_in_both_shapes(chat_emu: Any, code: int, status: int, kind: str) -> None:
    emu = chat_emu()
    body = with_text(f"hi [[fault:error_before:{code}]]")
    native = assert_native(emu.post(body, NATIVE), code)
    assert assert_compat(emu.post(body, COMPAT), status, kind, code) == f"{native} ({code})"
    assert emu.ctx.chat_stream_ends == [] and len(emu.ctx.chat_requests) == 2


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [(429, "rate_limit_error", 1002), (503, "api_error", 1000), (402, "insufficient_balance_error", 1008)],
)
def test_http_status_on_both_endpoints(chat_emu: Any, status: int, kind: str, code: int) -> None:
    emu = chat_emu()
    for path in (COMPAT, NATIVE):
        assert_compat(emu.post(with_text(f"hi [[fault:http:{status}]]"), path), status, kind, code)


def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("marker", ["pace:50", "stall:3:30"])
def test_client_closing_early_is_recorded_within_a_second(chat_emu: Any, marker: str) -> None:
    emu = chat_emu()
    with emu.client.stream("POST", COMPAT, json=with_text(f"hi [[fault:{marker}]]")) as r:
        seen = 0
        for line in r.iter_lines():
            seen += line.startswith("data: ")
            if seen == 3:
                assert emu.ctx.chat_streams_open == 1 and emu.ctx.chat_stream_ends == []
                break
    closed = time.monotonic()
    assert wait_for(lambda: emu.ctx.chat_stream_ends == [(0, "client_closed")], 1.0), emu.ctx.chat_stream_ends
    assert time.monotonic() - closed < 1.0 and emu.ctx.chat_streams_open == 0
