"""Frame by frame: MiniMax frames in, exactly the OpenAI events the SDKs need out."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson
import pytest

from gateway.bridge.events import FrameEvents
from gateway.bridge.frames import Frame
from gateway.bridge.translator import RunStreamTranslator, UnexpectedFrame
from gateway.errors import UpstreamError
from gateway.lifecycle import Lifecycle
from gateway.metrics import Metrics
from gateway.stream.events import StreamEvent
from gateway.stream.message import MessageStream
from gateway.stream.relay import INTERNAL, relay
from gateway.stream.text import TextMode
from tests.stream_checks import check

RUN, THREAD, ASST, MSG, STEP = "run_1", "thread_1", "asst_1", "msg_1", "step_1"
REPLY = "Hello wörld, 你好 🌍!"


def make_translator(mode: TextMode = TextMode.AUTO) -> RunStreamTranslator:
    counter = itertools.count(1)
    seed = {
        "thread_id": THREAD,
        "assistant_id": ASST,
        "model": "abab6.5s-chat",
        "instructions": "be nice",
        "tools": [],
        "metadata": {},
    }
    return RunStreamTranslator(
        seed, new_id=lambda p: f"{p}gen{next(counter)}", clock=lambda: 1700000000, text_mode=mode
    )


def run(status: str, **extra: Any) -> Frame:
    return Frame(
        "run",
        {
            "id": RUN,
            "object": "run",
            "thread_id": THREAD,
            "assistant_id": ASST,
            "status": status,
            "created_at": 1700000000,
            "completed_at": 0,
            "model": "abab6.5s-chat",
            "required_action": {"type": "", "submit_tool_outputs": None},
            **extra,
        },
    )


def message(value: str, role: str = "ai", msg_id: str = MSG, **item: Any) -> Frame:
    return Frame(
        "message",
        {
            "id": msg_id,
            "object": "message",
            "role": role,
            "run_id": RUN,
            "thread_id": THREAD,
            "content": [{"type": "text", "text": {"value": value, "annotations": []}, **item}],
        },
    )


def step(status: str, type_: str = "message_creation", step_id: str = STEP, **details: Any) -> Frame:
    if type_ == "message_creation":
        step_details: dict[str, Any] = {"type": type_, "message_creation": {"message_id": MSG}}
    else:
        step_details = {"type": type_, "tool_calls": details.get("tool_calls", [])}
    return Frame(
        "step",
        {
            "id": step_id,
            "object": "run step",
            "run_id": RUN,
            "type": type_,
            "status": status,
            "created_at": 1700000000,
            "step_details": step_details,
        },
    )


def feed(translator: RunStreamTranslator, frames: list[Frame], end: str = "finish") -> list[StreamEvent]:
    events: list[StreamEvent] = []
    for frame in frames:
        events.extend(translator.on_frame(frame))
    events.extend(translator.finish() if end == "finish" else translator.fail("server_error", end))
    return events


def names(events: list[StreamEvent]) -> list[str]:
    return [e.name for e in events]


def pieces(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


DIALECTS = {
    "incremental": pieces(REPLY),
    "cumulative": [REPLY[: i + 3] for i in range(0, len(REPLY), 3)],
    "incremental_final": [*pieces(REPLY), REPLY],
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("with_steps", [True, False])
def test_text_run_is_exact_in_every_dialect(dialect: str, with_steps: bool) -> None:
    frames = [run("queued"), run("in_progress"), message("hi there", role="user", msg_id="msg_user")]
    frames += [step("in_progress")] if with_steps else []
    frames += [message(v) for v in DIALECTS[dialect]]
    frames += [step("completed")] if with_steps else []
    frames += [run("completed")]
    events = feed(make_translator(), frames)
    transcript = check([(e.name, e.data) for e in events])
    assert transcript.texts == {MSG: REPLY}
    assert transcript.completed_texts == {MSG: REPLY}
    assert names(events)[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert names(events)[-3:] == [
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    assert transcript.final_run is not None and transcript.final_run["status"] == "completed"


def test_first_delta_comes_out_with_the_first_frame() -> None:
    translator = make_translator()
    translator.on_frame(run("in_progress"))
    events = translator.on_frame(message("Hel"))
    assert names(events) == [
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        "thread.message.delta",
    ]
    assert events[-1].data["delta"]["content"] == [{"index": 0, "type": "text", "text": {"value": "Hel"}}]


def test_user_echo_never_becomes_assistant_output() -> None:
    events = feed(
        make_translator(), [run("in_progress"), message("echo", role="user", msg_id="m_u"), run("completed")]
    )
    assert "thread.message.created" not in names(events)
    check([(e.name, e.data) for e in events])


def test_missing_run_frames_are_synthesised_with_the_frames_run_id() -> None:
    events = feed(make_translator(), [message("Hi")])
    assert names(events)[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert events[0].data["id"] == RUN
    transcript = check([(e.name, e.data) for e in events])
    assert transcript.final_run is not None and transcript.final_run["status"] == "completed"


def test_minimax_values_are_mapped() -> None:
    translator = make_translator()
    events = translator.on_frame(run("started"))
    snapshot = events[-1].data
    assert events[-1].name == "thread.run.in_progress"
    assert snapshot["object"] == "thread.run" and snapshot["completed_at"] is None
    assert snapshot["required_action"] is None


def test_error_frame_mid_message_fails_the_run_keeping_the_text() -> None:
    translator = make_translator()
    frames = [
        run("in_progress"),
        message("Hel"),
        message("lo"),
        Frame("error", {"code": 1002, "message": "rpm"}),
    ]
    events: list[StreamEvent] = []
    for frame in frames:
        events.extend(translator.on_frame(frame))
    transcript = check([(e.name, e.data) for e in events])
    assert names(events)[-3:] == ["thread.message.incomplete", "thread.run.step.failed", "thread.run.failed"]
    assert transcript.texts == {MSG: "Hello"}
    assert events[-1].data["last_error"] == {
        "code": "rate_limit_exceeded",
        "message": "MiniMax error 1002: rpm",
    }
    assert translator.on_frame(message("more")) == []
    assert translator.finish() == []


def test_broken_upstream_fails_the_run() -> None:
    events = feed(make_translator(), [run("in_progress"), message("Hel")], end="connection lost")
    check([(e.name, e.data) for e in events])
    assert events[-1].name == "thread.run.failed"
    assert events[-1].data["last_error"]["message"] == "connection lost"


def test_nothing_at_all_is_a_failure_not_a_success() -> None:
    events = make_translator().finish()
    check([(e.name, e.data) for e in events])
    assert events[-1].name == "thread.run.failed"


def call(arguments: str, output: str = "") -> dict[str, Any]:
    return {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments, "output": output},
    }


REQUIRED = {
    "type": "submit_tool_outputs",
    "submit_tool_outputs": {
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
            }
        ]
    },
}


@pytest.mark.parametrize("with_steps", [True, False])
def test_function_call_streams_to_requires_action(with_steps: bool) -> None:
    frames = [run("in_progress")]
    if with_steps:
        frames += [step("in_progress", "tool_calls", "step_t", tool_calls=[call('{"location": "Paris"}')])]
    frames += [run("requires_action", required_action=REQUIRED)]
    events = feed(make_translator(), frames)
    transcript = check([(e.name, e.data) for e in events])
    assert names(events)[-1] == "thread.run.requires_action"
    assert "thread.run.step.completed" not in names(events)  # the tool step stays open, as OpenAI's does
    (only,) = transcript.tool_calls.values()
    assert only == {
        "id": "call_1",
        "type": "function",
        "name": "get_weather",
        "arguments": '{"location": "Paris"}',
    }
    assert events[-1].data["required_action"] == REQUIRED


def test_required_action_is_derived_from_the_step_when_the_run_frame_lacks_it() -> None:
    frames = [
        run("in_progress"),
        step("in_progress", "tool_calls", "step_t", tool_calls=[call('{"a": 1}')]),
        run("requires_action"),
    ]
    events = feed(make_translator(), frames)
    calls = events[-1].data["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert calls == [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"a": 1}'}}
    ]


@pytest.mark.parametrize(
    "args", [['{"loc', 'ation": 1}'], ['{"loc', '{"location": 1}'], ['{"location": 1}', '{"location": 1}']]
)
def test_tool_arguments_are_diffed_like_text(args: list[str]) -> None:
    frames = [run("in_progress")] + [
        step("in_progress", "tool_calls", "step_t", tool_calls=[call(a)]) for a in args
    ]
    frames += [step("completed", "tool_calls", "step_t", tool_calls=[call('{"location": 1}', "sunny")])]
    events = feed(make_translator(), [*frames, run("completed")])
    transcript = check([(e.name, e.data) for e in events])
    assert [c["arguments"] for c in transcript.tool_calls.values()] == ['{"location": 1}']
    done = next(e for e in events if e.name == "thread.run.step.completed")
    assert done.data["step_details"]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"location": 1}',
        "output": "sunny",
    }


def test_web_search_step_then_cited_reply() -> None:
    search = {"id": "call_w", "type": "web_search", "web_search": {"query": "paris weather", "outputs": ""}}
    found = {**search, "web_search": {"query": "paris weather", "outputs": "sunny"}}
    citation = {
        "type": "web_citation",
        "text": "【1†source】",
        "start_index": 6,
        "end_index": 16,
        "web_citation": {"url": "https://example.com/w", "quote": "sunny"},
    }
    frames = [
        run("in_progress"),
        step("in_progress", "tool_calls", "step_w", tool_calls=[search]),
        step("completed", "tool_calls", "step_w", tool_calls=[found]),
        message("Sunny."),
        message("【1†source】"),
        Frame(
            "message",
            {
                "id": MSG,
                "role": "ai",
                "content": [{"type": "text", "text": {"value": "", "annotations": [citation]}}],
            },
        ),
        run("completed"),
    ]
    events = feed(make_translator(), frames)
    transcript = check([(e.name, e.data) for e in events])
    assert transcript.texts == {MSG: "Sunny.【1†source】"}
    completed = next(e for e in events if e.name == "thread.message.completed")
    (annotation,) = completed.data["content"][0]["text"]["annotations"]
    assert annotation["type"] == "file_citation"
    assert annotation["file_citation"]["file_id"] == "https://example.com/w"
    step_done = next(e for e in events if e.name == "thread.run.step.completed")
    assert step_done.data["step_details"]["tool_calls"][0]["function"]["name"] == "web_search"
    assert step_done.data["step_details"]["tool_calls"][0]["function"]["output"] == "sunny"


def test_message_before_its_step_frame_is_folded_into_one_step() -> None:
    frames = [
        run("in_progress"),
        message("Hi"),
        step("in_progress"),
        message(" there"),
        step("completed"),
        run("completed"),
    ]
    events = feed(make_translator(), frames)
    transcript = check([(e.name, e.data) for e in events])
    assert names(events).count("thread.run.step.created") == 1
    assert transcript.texts == {MSG: "Hi there"}


def test_two_messages_each_get_their_own_step() -> None:
    frames = [run("in_progress"), message("one", msg_id="m1"), message("two", msg_id="m2"), run("completed")]
    events = feed(make_translator(), frames)
    transcript = check([(e.name, e.data) for e in events])
    assert transcript.texts == {"m1": "one", "m2": "two"}
    assert names(events).count("thread.run.step.created") == 2


def test_several_content_items_get_contiguous_indexes() -> None:
    both = Frame(
        "message",
        {
            "id": MSG,
            "role": "ai",
            "content": [
                {"id": "c1", "type": "text", "text": {"value": "ab"}},
                {"id": "c2", "type": "text", "text": {"value": "xy"}},
            ],
        },
    )
    events = feed(make_translator(), [run("in_progress"), both, run("completed")])
    done = next(e for e in events if e.name == "thread.message.completed")
    assert [c["text"]["value"] for c in done.data["content"]] == ["ab", "xy"]
    check([(e.name, e.data) for e in events])


def test_per_frame_cost_does_not_grow_with_the_message() -> None:
    """Deterministic stand-in for timing: the work per frame is bounded by what the frame adds."""
    translator = make_translator()
    translator.on_frame(run("in_progress"))
    sizes = []
    for _ in range(2000):
        events = translator.on_frame(message("tok "))
        sizes.append(sum(len(str(e.data)) for e in events))
    assert max(sizes[1000:]) <= max(sizes[1:1000])


# -- frames of an unexpected shape ----------------------------------------------------------------


class _Frames:
    """A `FrameSource` handing out the frames one at a time."""

    def __init__(self, frames: list[Frame]) -> None:
        self._frames = iter(frames)

    async def next_batch(self) -> list[Frame] | None:
        frame = next(self._frames, None)
        return None if frame is None else [frame]

    async def aclose(self) -> None:
        pass


def client_sees(frames: list[Frame]) -> list[tuple[str, Any]]:
    """The (event, data) pairs a client reads when the relay streams `frames` through the translator."""
    written: list[bytes] = []

    async def write(chunk: bytes, last: bool = False) -> None:
        written.append(chunk)

    async def ready() -> bool:
        return True

    async def main() -> None:
        source = FrameEvents(_Frames(frames), make_translator(), Metrics())
        await relay(source, Metrics(), write, Lifecycle(1, ready, 1).open_stream())

    asyncio.run(main())
    out = []
    for block in b"".join(written).decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], orjson.loads(lines["data"]) if lines["data"] != "[DONE]" else None))
    return out


def _data(frame: Frame) -> dict[str, Any]:
    assert isinstance(frame.data, dict)
    return frame.data


def _item(**fields: Any) -> Frame:
    content = [{"type": "text", "text": {"value": "lo", "annotations": []}, **fields}]
    return Frame("message", {**_data(message("lo")), "content": content})


def _annotated(annotations: Any) -> Frame:
    return _item(text={"value": "lo", "annotations": annotations})


MALFORMED = {  # a frame MiniMax never sends -> the kind and what the client is told about it
    "a content item id that is a list": (
        _item(id=["c1"]),
        "message",
        "a content item id is a list or an object",
    ),
    "annotations that are a number": (_annotated(5), "message", "annotations are not a list"),
    "a citation that is a string": (
        _annotated([{"type": "web_citation", "text": "x", "web_citation": "https://example.com"}]),
        "message",
        "an annotation's file_path or citation is not an object",
    ),
    "an image_file that is a string": (
        Frame(
            "message",
            {**_data(message("")), "content": [{"id": "img", "type": "image_file", "image_file": "file_1"}]},
        ),
        "message",
        "an image_file is not an object",
    ),
    "a tool call id that is an object": (
        step(
            "in_progress", "tool_calls", step_id="step_2", tool_calls=[{"id": {"a": 1}, "type": "function"}]
        ),
        "step",
        "a tool call id is a list or an object",
    ),
    "message_creation that is a list": (
        Frame(
            "step",
            {**_data(step("in_progress", step_id="step_2")), "step_details": {"message_creation": ["msg_1"]}},
        ),
        "step",
        "step_details.message_creation is not an object",
    ),
    "required_action tool calls that are a number": (
        run(
            "requires_action",
            required_action={"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": 5}},
        ),
        "run",
        "required_action tool_calls is not a list",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_frame_of_an_unexpected_shape_fails_the_run_with_an_upstream_error(case: str) -> None:
    frame, kind, what = MALFORMED[case]
    translator = make_translator()
    for before in (run("in_progress"), step("in_progress"), message("Hel")):
        translator.on_frame(before)
    with pytest.raises(UnexpectedFrame) as raised:
        translator.on_frame(frame)
    assert isinstance(raised.value, UpstreamError)
    message_text = f"MiniMax sent a {kind} frame of an unexpected shape ({what})"
    assert raised.value.message == message_text
    # What the client reads: the run fails with that error (not the relay's message for a bug of ours).
    events = client_sees([run("in_progress"), step("in_progress"), message("Hel"), frame, message("never")])
    assert events[-2][0] == "thread.run.failed" and events[-1] == ("done", None)
    assert events[-2][1]["last_error"] == {"code": "server_error", "message": message_text}
    assert INTERNAL not in str(events)


def test_an_error_of_our_own_is_not_reported_as_malformed_upstream_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: MessageStream, content: Any) -> list[Any]:
        raise AttributeError("a bug")

    monkeypatch.setattr(MessageStream, "apply_general", broken)
    translator = make_translator()
    translator.on_frame(run("in_progress"))
    with pytest.raises(AttributeError):
        translator.on_frame(message("Hel"))
    events = client_sees([run("in_progress"), message("Hel")])
    assert events[-2][0] == "thread.run.failed"
    assert events[-2][1]["last_error"] == {"code": "server_error", "message": INTERNAL}
