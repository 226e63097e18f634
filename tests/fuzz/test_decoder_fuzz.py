"""Property-based fuzzing of the stream decoders with random bytes, random well-shaped-but-wrong
MiniMax payloads and random chunkings: they may only raise the gateway's own errors (`GatewayError`;
for chat chunks `ChatStreamError` / `MalformedChunk`), never KeyError, TypeError, RecursionError, ...
The SSE decoder must also be split-invariant (every byte counted once, whatever the reads)."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.bridge.frames import parse_frame
from gateway.bridge.translator import RunStreamTranslator
from gateway.engine.chunks import ChatStreamDecoder, ChatStreamError, MalformedChunk, Reasoning, Text
from gateway.errors import GatewayError
from gateway.schemas.status import RunStatus
from gateway.stream.text import TextMode
from gateway.upstream.sse_decoder import SSEDecoder

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CASES: Counter[str] = Counter()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
texts = st.one_of(
    st.text(max_size=30),
    st.lists(
        st.sampled_from(["<think>", "</think>", "<th", "ink>", "</", "a", "\x00", "é", "🌍", "\r\n"]),
        max_size=8,
    ).map("".join),
)
digits = st.sampled_from(
    ["2013", "1002", "0", "", "²", "١٢", "-5", "1e3", "9" * 30]
)  # str codes MiniMax may send


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The well-typed value, or junk of any type in its place."""
    return st.one_of(value, junk)


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\ndecoder fuzz cases: {dict(CASES)} (total {sum(CASES.values())})")


def chunked(data: st.DataObject, raw: bytes) -> list[bytes]:
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(raw)), max_size=12), label="cuts")))
    return [raw[a:b] for a, b in itertools.pairwise([0, *cuts, len(raw)])]


def sse(payloads: list[bytes], data: st.DataObject) -> bytes:
    ends = st.sampled_from([b"\n", b"\r\n", b"\r"])
    out = b""
    for payload in payloads:
        end = data.draw(ends, label="line end")
        out += (
            data.draw(st.sampled_from([b"data: ", b"data:", b"", b": c" + end]), label="field")
            + payload
            + end
        )
        out += data.draw(st.sampled_from([end, b"", b"event: x" + end + end]), label="dispatch")
    return out


# -- SSE ----------------------------------------------------------------------------------------------
def decode(chunks: list[bytes]) -> list[bytes]:
    decoder = SSEDecoder()
    return [p for c in chunks for p in decoder.feed(c)] + decoder.finish()


@FUZZ
@given(
    st.data(),
    st.one_of(st.binary(max_size=400), st.lists(st.binary(max_size=40), max_size=8).map(b"\n".join)),
)
@example(None, b"data: x\r")  # placeholders for data are filled by hypothesis
def test_sse_decoder_takes_any_bytes_in_any_split_and_gives_the_same_payloads(data: Any, raw: bytes) -> None:
    CASES["sse"] += 1
    whole = decode([raw])
    if data is not None:
        assert decode(chunked(data, raw)) == whole
        assert decode([raw[i : i + 1] for i in range(len(raw))]) == whole


# -- bridge: parse_frame + RunStreamTranslator --------------------------------------------------------
ids = st.sampled_from(["msg_1", "msg_2", "step_1", "step_2", "run_1", "", "call_1"])
kinds = st.sampled_from(
    ["run", "thread.run", "message", "thread.message", "run step", "run_step", "thread.run.step"]
)
statuses = st.sampled_from([*(s.value for s in RunStatus), "started", ""])  # OpenAI's, and MiniMax's own
text_parts = st.fixed_dictionaries(
    {"type": maybe(st.sampled_from(["text", "image_file", "x"]))},
    optional={
        "text": maybe(
            st.fixed_dictionaries(
                {"value": maybe(texts)},
                optional={
                    "annotations": maybe(
                        st.lists(
                            maybe(
                                st.fixed_dictionaries(
                                    {
                                        "type": maybe(
                                            st.sampled_from(["file_citation", "web_citation", "file_path"])
                                        )
                                    },
                                    optional={
                                        "text": maybe(texts),
                                        "start_index": maybe(st.integers(-3, 50)),
                                        "end_index": maybe(st.integers(-3, 50)),
                                        "web_citation": junk,
                                        "file_citation": junk,
                                    },
                                )
                            ),
                            max_size=2,
                        )
                    )
                },
            )
        )
    },
)
tool_calls = st.lists(
    maybe(
        st.fixed_dictionaries(
            {
                "id": maybe(ids),
                "type": maybe(st.sampled_from(["function", "retrieval", "web_search", "code_interpreter"])),
            },
            optional={
                "function": maybe(
                    st.fixed_dictionaries(
                        {}, optional={"name": maybe(texts), "arguments": maybe(texts), "output": maybe(texts)}
                    )
                )
            },
        )
    ),
    max_size=3,
)
frame_data = st.fixed_dictionaries(
    {"object": maybe(kinds)},
    optional={
        "id": maybe(ids),
        "run_id": maybe(ids),
        "role": maybe(st.sampled_from(["ai", "assistant", "user"])),
        "status": maybe(statuses),
        "content": maybe(st.lists(maybe(text_parts), max_size=3)),
        "type": maybe(st.sampled_from(["tool_calls", "message_creation"])),
        "step_details": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "message_creation": maybe(st.fixed_dictionaries({}, optional={"message_id": maybe(ids)})),
                    "tool_calls": maybe(tool_calls),
                },
            )
        ),
        "last_error": junk,
        "created_at": maybe(st.integers(-1, 2**40)),
        "metadata": junk,
        "required_action": maybe(
            st.fixed_dictionaries(
                {"type": maybe(st.just("submit_tool_outputs"))},
                optional={
                    "submit_tool_outputs": maybe(st.fixed_dictionaries({"tool_calls": maybe(tool_calls)}))
                },
            )
        ),
        "tools": junk,
        "usage": junk,
        "assistant_id": junk,
        "model": junk,
        "instructions": junk,
    },
)
base_resps = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "status_code": maybe(st.sampled_from([0, 1002, 2013, 1004])),
            "status_msg": junk,
            "code": maybe(digits),
            "message": junk,
        },
    ),
    junk,
)
frame_payloads = st.one_of(
    st.builds(lambda d, b: orjson.dumps({"data": d, "base_resp": b}), frame_data, base_resps),
    st.builds(orjson.dumps, junk),
    st.binary(max_size=60),
)


@FUZZ
@given(st.data(), st.lists(frame_payloads, max_size=10), st.sampled_from(list(TextMode)), st.booleans())
def test_bridge_frames_and_translator_raise_only_gateway_errors(
    data: st.DataObject, payloads: list[bytes], mode: TextMode, resumed: bool
) -> None:
    CASES["bridge frames"] += 1
    counter = itertools.count()
    translator = RunStreamTranslator(
        {"thread_id": "t", "assistant_id": "a"},
        new_id=lambda prefix: f"{prefix}{next(counter)}",
        clock=lambda: 1,
        text_mode=mode,
        resume_after=frozenset({"step_1"}) if resumed else None,
    )
    try:
        decoder = SSEDecoder()
        for chunk in chunked(data, sse(payloads, data)):
            for payload in decoder.feed(chunk):
                frame = parse_frame(payload)
                if frame is not None:
                    translator.on_frame(frame)
        translator.finish()
    except GatewayError:
        pass


def translate(payloads: list[bytes], *, resumed: bool = False) -> None:
    counter = itertools.count()
    translator = RunStreamTranslator(
        {"thread_id": "t", "assistant_id": "a"},
        new_id=lambda prefix: f"{prefix}{next(counter)}",
        clock=lambda: 1,
        resume_after=frozenset({"step_1"}) if resumed else None,
    )
    try:
        for payload in payloads:
            frame = parse_frame(payload)
            if frame is not None:
                translator.on_frame(frame)
        translator.finish()
    except GatewayError:
        pass


@pytest.mark.parametrize(
    ("frames", "resumed"),
    [
        pytest.param([b'{"data": {"object": "run", "status": []}}'], False, id="run-status-list"),
        pytest.param(
            [b'{"data": {"object": "message"}}', b'{"data": {"object": "run step", "status": []}}'],
            False,
            id="step-status-list",
        ),
        pytest.param(
            [
                b'{"data": {"object": "run"}}',
                b'{"data": {"object": "run step", "id": "step_1", "status": {}}}',
            ],
            True,
            id="old-step-status-object",
        ),
        pytest.param(
            [b'{"data": {"object": "run step", "id": "s", "status": "failed", "last_error": [null]}}'],
            False,
            id="step-last-error-list",
        ),
        pytest.param([b'{"data": {"object": "message", "id": [null]}}'], False, id="message-id-list"),
        pytest.param(
            [b'{"data": {"object": "run step", "id": "s", "step_details": {"message_creation": [null]}}}'],
            False,
            id="step-message-creation-list",
        ),
        pytest.param([b'{"data": {"object": "run", "tools": true}}'], False, id="run-tools-true"),
    ],
)
def test_bridge_translator_regressions(frames: list[bytes], resumed: bool) -> None:
    """Frames the fuzzer found: JSON of the wrong type where MiniMax sends a string or an object."""
    CASES["bridge regressions"] += 1
    translate(frames, resumed=resumed)


# -- engine: ChatStreamDecoder ------------------------------------------------------------------------
call_deltas = st.lists(
    maybe(
        st.fixed_dictionaries(
            {},
            optional={
                "index": maybe(st.integers(0, 2)),
                "id": maybe(ids),
                "type": maybe(st.just("function")),
                "function": maybe(
                    st.fixed_dictionaries({}, optional={"name": maybe(texts), "arguments": maybe(texts)})
                ),
            },
        )
    ),
    max_size=3,
)
details = st.lists(
    maybe(
        st.fixed_dictionaries({}, optional={"type": junk, "id": junk, "format": junk, "text": maybe(texts)})
    ),
    max_size=2,
)
delta = st.fixed_dictionaries(
    {},
    optional={
        "content": maybe(texts),
        "reasoning_content": maybe(texts),
        "reasoning_details": maybe(details),
        "tool_calls": maybe(call_deltas),
        "role": maybe(st.sampled_from(["assistant", ""])),
    },
)
choice = st.fixed_dictionaries(
    {},
    optional={
        "index": maybe(st.just(0)),
        "delta": maybe(delta),
        "message": maybe(delta),
        "finish_reason": maybe(st.sampled_from(["stop", "tool_calls", "length", ""])),
    },
)
usage = st.fixed_dictionaries({}, optional={"prompt_tokens": maybe(st.integers(0, 9)), "total_tokens": junk})
chat_chunk = st.fixed_dictionaries(
    {},
    optional={
        "choices": maybe(st.lists(maybe(choice), max_size=2)),
        "usage": maybe(usage),
        "base_resp": base_resps,
        "object": maybe(st.just("chat.completion")),
        "code": maybe(digits),
        "msg": junk,
        "error": junk,
        "type": maybe(st.just("error")),
    },
)
chat_payloads = st.one_of(
    st.builds(orjson.dumps, chat_chunk),
    st.just(b"[DONE]"),
    st.builds(orjson.dumps, junk),
    st.binary(max_size=40),
)
DEEP_USAGE = b'{"usage": ' + b'{"a": ' * 1000 + b"0" + b"}" * 1001


def decode_chat(chunks: list[bytes], closer_only: bool = False, mode: TextMode = TextMode.AUTO) -> None:
    """Feed an SSE body in `chunks` to the chat decoder; its own errors end the stream, as they do a run."""
    decoder = ChatStreamDecoder(think_closer_only=closer_only, reasoning_mode=mode)
    sse_decoder = SSEDecoder()
    deltas: list[Any] = []
    try:
        for chunk in chunks:
            for payload in sse_decoder.feed(chunk):
                deltas += decoder.feed(payload)
        for payload in sse_decoder.finish():
            deltas += decoder.feed(payload)
        deltas += decoder.finish()
    except (ChatStreamError, MalformedChunk, GatewayError):
        return
    assert "".join(d.piece for d in deltas if isinstance(d, Text)) == decoder.content
    assert "".join(d.piece for d in deltas if isinstance(d, Reasoning)) == decoder.reasoning
    assert isinstance(decoder.tool_calls, list) and isinstance(decoder.raw_content, str)


@FUZZ
@given(st.data(), st.lists(chat_payloads, max_size=10), st.booleans(), st.sampled_from(list(TextMode)))
def test_chat_stream_decoder_raises_only_its_own_errors(
    data: st.DataObject, payloads: list[bytes], closer_only: bool, mode: TextMode
) -> None:
    CASES["chat chunks"] += 1
    decode_chat(chunked(data, sse(payloads, data)), closer_only, mode)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"code": "\xc2\xb2", "msg": "x"}', id="code-superscript-two"),
        pytest.param(
            b'{"base_resp": {"status_code": "\xc2\xb2", "status_msg": "x"}}', id="status-code-superscript"
        ),
        pytest.param(
            b'{"base_resp": {"status_code": "\xd9\xa1", "status_msg": "x"}}', id="status-code-arabic-one"
        ),
        pytest.param(DEEP_USAGE, id="usage-nested-1000-deep"),
    ],
)
def test_chat_stream_decoder_regressions(payload: bytes) -> None:
    """Inputs the fuzzer found (or that a careful reader of `_raise_if_code` / `_is_placeholder` finds)."""
    CASES["chat regressions"] += 1
    decode_chat([b"data: " + payload + b"\n\n"])
